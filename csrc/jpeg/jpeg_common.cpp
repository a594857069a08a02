#include "jpeg/jpeg_common.hpp"

#include <cstdlib>
#include <cstring>

#include "common/errors.hpp"
#include "common/limits.hpp"

namespace codeclens::jpeg {
namespace {

void on_error_exit(j_common_ptr cinfo) {
  auto* state = reinterpret_cast<ErrorState*>(cinfo->err);
  (*cinfo->err->format_message)(cinfo, state->message);
  std::longjmp(state->jump, 1);
}

void on_emit_message(j_common_ptr cinfo, int msg_level) {
  if (msg_level >= 0) return;  // trace messages
  auto* state = reinterpret_cast<ErrorState*>(cinfo->err);
  if (state->warnings++ == 0) (*cinfo->err->format_message)(cinfo, state->first_warning);
  cinfo->err->num_warnings++;
  if (state->strict) {
    (*cinfo->err->format_message)(cinfo, state->message);
    std::longjmp(state->jump, 1);
  }
}

void on_output_message(j_common_ptr) {}  // never print to stderr

void on_progress(j_common_ptr cinfo) {
  if (!cinfo->is_decompressor) return;
  auto* d = reinterpret_cast<j_decompress_ptr>(cinfo);
  auto* limit = reinterpret_cast<ScanLimit*>(cinfo->progress);
  if (d->input_scan_number > limit->max_scans) {
    auto* state = reinterpret_cast<ErrorState*>(cinfo->err);
    std::snprintf(state->message, sizeof(state->message),
                  "progressive JPEG has more than %d scans (a decoding-time attack or a damaged file)",
                  limit->max_scans);
    std::longjmp(state->jump, 1);
  }
}

void dest_init(j_compress_ptr) {}

boolean dest_empty(j_compress_ptr cinfo) {
  auto* d = reinterpret_cast<GrowingDest*>(cinfo->dest);
  const std::size_t new_capacity = d->capacity * 2;
  auto* grown = static_cast<std::uint8_t*>(std::realloc(d->data, new_capacity));
  if (grown == nullptr) {
    d->failed = true;
    ERREXIT1(cinfo, JERR_OUT_OF_MEMORY, 10);
  }
  d->data = grown;
  d->mgr.next_output_byte = grown + d->capacity;
  d->mgr.free_in_buffer = new_capacity - d->capacity;
  d->capacity = new_capacity;
  return TRUE;
}

void dest_term(j_compress_ptr cinfo) {
  auto* d = reinterpret_cast<GrowingDest*>(cinfo->dest);
  d->size = d->capacity - d->mgr.free_in_buffer;
}

}  // namespace

jpeg_error_mgr* install_error_handler(ErrorState& state, bool strict) {
  jpeg_error_mgr* mgr = jpeg_std_error(&state.mgr);
  mgr->error_exit = on_error_exit;
  mgr->emit_message = on_emit_message;
  mgr->output_message = on_output_message;
  state.message[0] = '\0';
  state.first_warning[0] = '\0';
  state.strict = strict;
  state.warnings = 0;
  return mgr;
}

void throw_jpeg_error(const ErrorState& state, const char* context) {
  std::string msg = context;
  msg += ": ";
  msg += state.message[0] ? state.message : "unknown libjpeg error";
  throw CodecError("jpeg", msg);
}

void install_scan_limit(j_decompress_ptr cinfo, ScanLimit& limit) {
  std::memset(&limit.mgr, 0, sizeof(limit.mgr));
  limit.mgr.progress_monitor = on_progress;
  limit.max_scans = kMaxScans;
  cinfo->progress = &limit.mgr;
}

void install_growing_dest(j_compress_ptr cinfo, GrowingDest& dest, std::size_t initial_capacity) {
  dest.capacity = initial_capacity < 1024 ? 1024 : initial_capacity;
  dest.data = static_cast<std::uint8_t*>(std::malloc(dest.capacity));
  if (dest.data == nullptr) throw std::bad_alloc();
  dest.size = 0;
  dest.failed = false;
  dest.mgr.init_destination = dest_init;
  dest.mgr.empty_output_buffer = dest_empty;
  dest.mgr.term_destination = dest_term;
  dest.mgr.next_output_byte = dest.data;
  dest.mgr.free_in_buffer = dest.capacity;
  cinfo->dest = &dest.mgr;
}

FrameHeader frame_header(const jpeg_decompress_struct& c) {
  FrameHeader h;
  h.width = static_cast<int>(c.image_width);
  h.height = static_cast<int>(c.image_height);
  h.color_space = c.jpeg_color_space;
  h.progressive = c.progressive_mode != 0;
  h.arithmetic = c.arith_code != 0;
  h.restart_interval = static_cast<int>(c.restart_interval);
  h.adobe = c.saw_Adobe_marker != 0;
  h.adobe_transform = c.Adobe_transform;
  return h;
}

const char* color_space_name(J_COLOR_SPACE cs) {
  switch (cs) {
    case JCS_GRAYSCALE: return "gray";
    case JCS_RGB: return "rgb";
    case JCS_YCbCr: return "ycbcr";
    case JCS_CMYK: return "cmyk";
    case JCS_YCCK: return "ycck";
    default: return "unknown";
  }
}

J_COLOR_SPACE color_space_from_name(const std::string& name) {
  if (name == "gray") return JCS_GRAYSCALE;
  if (name == "rgb") return JCS_RGB;
  if (name == "ycbcr") return JCS_YCbCr;
  if (name == "cmyk") return JCS_CMYK;
  if (name == "ycck") return JCS_YCCK;
  throw InvalidArgument("color_space: expected 'gray', 'rgb', 'ycbcr', 'cmyk' or 'ycck', got '" + name + "'");
}

J_DCT_METHOD dct_method_from_name(const std::string& name) {
  if (name == "islow") return JDCT_ISLOW;
  if (name == "ifast") return JDCT_IFAST;
  if (name == "float") return JDCT_FLOAT;
  throw InvalidArgument("dct_method: expected 'islow', 'ifast' or 'float', got '" + name + "'");
}

std::string subsampling_name(const jpeg_decompress_struct& cinfo) {
  if (cinfo.num_components == 1) return "gray";
  const jpeg_component_info* c = cinfo.comp_info;
  if (cinfo.num_components == 3 && c[1].h_samp_factor == 1 && c[1].v_samp_factor == 1 &&
      c[2].h_samp_factor == 1 && c[2].v_samp_factor == 1) {
    const int h = c[0].h_samp_factor, v = c[0].v_samp_factor;
    if (h == 1 && v == 1) return "444";
    if (h == 2 && v == 1) return "422";
    if (h == 2 && v == 2) return "420";
    if (h == 1 && v == 2) return "440";
    if (h == 4 && v == 1) return "411";
    if (h == 1 && v == 4) return "441";
  }
  std::string s;
  for (int i = 0; i < cinfo.num_components; ++i) {
    if (i) s += ",";
    s += "h" + std::to_string(c[i].h_samp_factor) + "v" + std::to_string(c[i].v_samp_factor);
  }
  return s;
}

std::string library_version() {
#ifdef LIBJPEG_TURBO_VERSION
#define CODECLENS_STR2(x) #x
#define CODECLENS_STR(x) CODECLENS_STR2(x)
  return std::string("libjpeg-turbo ") + CODECLENS_STR(LIBJPEG_TURBO_VERSION) + " (libjpeg API " +
         std::to_string(JPEG_LIB_VERSION) + ")";
#else
  return "libjpeg (API " + std::to_string(JPEG_LIB_VERSION) + ")";
#endif
}

}  // namespace codeclens::jpeg

namespace codeclens::jpeg {

DecompressSession::DecompressSession(ByteView data, bool strict, const char* context, bool check_limit)
    : context_(context) {
  if (data.size == 0) throw CodecError("jpeg", std::string(context) + ": empty input (0 bytes)");
  cinfo_.err = install_error_handler(err_, strict);
  if (!guarded(err_, [&] { jpeg_create_decompress(&cinfo_); })) throw_jpeg_error(err_, context);
  try {
    install_scan_limit(&cinfo_, scan_limit_);
    run([&] {
      jpeg_mem_src(&cinfo_, data.data, static_cast<unsigned long>(data.size));
      jpeg_read_header(&cinfo_, TRUE);
    });
    if (check_limit) {
      try {
        check_pixel_limit(cinfo_.image_width, cinfo_.image_height, "JPEG header");
      } catch (const InvalidArgument& e) {
        throw CodecError("jpeg", std::string(context) + ": " + e.what());  // a bad file, like any other
      }
    }
  } catch (...) {
    jpeg_destroy_decompress(&cinfo_);  // the destructor does not run when the constructor throws
    throw;
  }
}

DecompressSession::~DecompressSession() { jpeg_destroy_decompress(&cinfo_); }

CompressSession::CompressSession(const char* context) : context_(context) {
  cinfo_.err = install_error_handler(err_, /*strict=*/false);
  if (!guarded(err_, [&] { jpeg_create_compress(&cinfo_); })) throw_jpeg_error(err_, context);
}

CompressSession::~CompressSession() {
  jpeg_destroy_compress(&cinfo_);
  std::free(dest_.data);
}

EncodedBuffer CompressSession::take() {
  EncodedBuffer out;
  out.data.reset(dest_.data);
  out.size = dest_.size;
  dest_.data = nullptr;
  return out;
}

}  // namespace codeclens::jpeg
