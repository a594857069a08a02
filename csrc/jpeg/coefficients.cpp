#include "jpeg/coefficients.hpp"

#include <algorithm>
#include <cstring>
#include <string>

#include "common/errors.hpp"
#include "common/limits.hpp"

namespace codeclens::jpeg {
namespace {

constexpr std::size_t kBlock = 64;

int ceil_div(long long a, long long b) { return static_cast<int>((a + b - 1) / b); }

// libjpeg keeps the coefficients of jpeg_read_coefficients() in "virtual block arrays" that its memory
// manager allocates. DirectArrays replaces the three memory-manager methods that serve those arrays so that
// libjpeg decodes straight into calloc'd memory that becomes the output arrays: no copy, no second
// allocation. Arrays are padded to whole MCUs as libjpeg requests them (interleaved scans code the padding
// blocks); rows are compacted in place afterwards when the padded width differs. The callbacks run inside
// libjpeg and report failure through ERREXIT (a longjmp to the guard), never by throwing.
struct DirectArrays {
  struct Entry {
    JDIMENSION blocks_w = 0, rows = 0;
    std::int16_t* data = nullptr;
    JBLOCKROW* row_ptrs = nullptr;
  };
  Entry entries[MAX_COMPONENTS];
  int count = 0;
  jvirt_barray_ptr (*orig_request)(j_common_ptr, int, boolean, JDIMENSION, JDIMENSION, JDIMENSION) = nullptr;
  void (*orig_realize)(j_common_ptr) = nullptr;
  JBLOCKARRAY (*orig_access)(j_common_ptr, jvirt_barray_ptr, JDIMENSION, JDIMENSION, boolean) = nullptr;

  DirectArrays() = default;
  DirectArrays(const DirectArrays&) = delete;
  DirectArrays& operator=(const DirectArrays&) = delete;
  ~DirectArrays() {
    for (int i = 0; i < count; ++i) {
      std::free(entries[i].data);
      std::free(entries[i].row_ptrs);
    }
  }
  Entry* find(jvirt_barray_ptr handle) {
    auto* e = reinterpret_cast<Entry*>(handle);
    return (e >= entries && e < entries + count) ? e : nullptr;
  }
  // Hands component i's buffer to the caller, rows compacted to exactly blocks_w x blocks_h.
  MallocPtr<std::int16_t> take(int i, JDIMENSION blocks_w, JDIMENSION blocks_h) {
    Entry& e = entries[i];
    if (blocks_w != e.blocks_w) {
      const std::size_t dst_row = static_cast<std::size_t>(blocks_w) * kBlock;
      const std::size_t src_row = static_cast<std::size_t>(e.blocks_w) * kBlock;
      for (JDIMENSION r = 1; r < blocks_h; ++r) {
        std::memmove(e.data + r * dst_row, e.data + r * src_row, dst_row * sizeof(std::int16_t));
      }
    }
    MallocPtr<std::int16_t> out(e.data);
    e.data = nullptr;
    return out;
  }
};

DirectArrays* direct_of(j_common_ptr cinfo) { return static_cast<DirectArrays*>(cinfo->client_data); }

jvirt_barray_ptr direct_request(j_common_ptr cinfo, int pool_id, boolean pre_zero, JDIMENSION blocksperrow,
                                JDIMENSION numrows, JDIMENSION maxaccess) {
  DirectArrays* d = direct_of(cinfo);
  if (d->count == MAX_COMPONENTS) return d->orig_request(cinfo, pool_id, pre_zero, blocksperrow, numrows, maxaccess);
  DirectArrays::Entry& e = d->entries[d->count++];
  e.blocks_w = blocksperrow;
  e.rows = numrows;
  return reinterpret_cast<jvirt_barray_ptr>(&e);
}

void direct_realize(j_common_ptr cinfo) {
  DirectArrays* d = direct_of(cinfo);
  for (int i = 0; i < d->count; ++i) {
    DirectArrays::Entry& e = d->entries[i];
    if (e.data != nullptr) continue;
    // calloc: libjpeg asks for pre-zeroed coefficient arrays (the entropy decoder writes non-zero values only);
    // large callocs come from fresh, already-zero pages.
    e.data = static_cast<std::int16_t*>(std::calloc(static_cast<std::size_t>(e.rows) * e.blocks_w * kBlock + 1, sizeof(std::int16_t)));
    e.row_ptrs = static_cast<JBLOCKROW*>(std::malloc((static_cast<std::size_t>(e.rows) + 1) * sizeof(JBLOCKROW)));
    if (e.data == nullptr || e.row_ptrs == nullptr) ERREXIT1(cinfo, JERR_OUT_OF_MEMORY, 11);
    advise_huge_pages(e.data, static_cast<std::size_t>(e.rows) * e.blocks_w * kBlock * sizeof(std::int16_t));
    for (JDIMENSION r = 0; r < e.rows; ++r) {
      e.row_ptrs[r] = reinterpret_cast<JBLOCKROW>(e.data + static_cast<std::size_t>(r) * e.blocks_w * kBlock);
    }
  }
  d->orig_realize(cinfo);
}

JBLOCKARRAY direct_access(j_common_ptr cinfo, jvirt_barray_ptr ptr, JDIMENSION start_row, JDIMENSION num_rows,
                          boolean writable) {
  DirectArrays* d = direct_of(cinfo);
  DirectArrays::Entry* e = d->find(ptr);
  if (e == nullptr) return d->orig_access(cinfo, ptr, start_row, num_rows, writable);
  if (e->row_ptrs == nullptr || start_row + num_rows > e->rows) ERREXIT(cinfo, JERR_BAD_VIRTUAL_ACCESS);
  return e->row_ptrs + start_row;
}

void install_direct_arrays(jpeg_decompress_struct& cinfo, DirectArrays& direct) {
  jpeg_memory_mgr* mem = cinfo.mem;
  direct.orig_request = mem->request_virt_barray;
  direct.orig_realize = mem->realize_virt_arrays;
  direct.orig_access = mem->access_virt_barray;
  mem->request_virt_barray = direct_request;
  mem->realize_virt_arrays = direct_realize;
  mem->access_virt_barray = direct_access;
  cinfo.client_data = &direct;
}

}  // namespace

Coefficients read_coefficients(ByteView data, bool strict) {
  DecompressSession session(data, strict, "read_coefficients");
  jpeg_decompress_struct& cinfo = session.cinfo();
  DirectArrays direct;
  install_direct_arrays(cinfo, direct);
  session.run([&] { jpeg_read_coefficients(&cinfo); });
  if (direct.count != cinfo.num_components) {
    throw std::runtime_error("read_coefficients: libjpeg requested " + std::to_string(direct.count) +
                             " coefficient arrays for " + std::to_string(cinfo.num_components) + " components");
  }

  Coefficients out;
  out.header = frame_header(cinfo);
  out.components.resize(static_cast<std::size_t>(cinfo.num_components));
  for (int ci = 0; ci < cinfo.num_components; ++ci) {
    const jpeg_component_info& comp = cinfo.comp_info[ci];
    ComponentCoefficients& c = out.components[static_cast<std::size_t>(ci)];
    c.component_id = comp.component_id;
    c.h_samp = comp.h_samp_factor;
    c.v_samp = comp.v_samp_factor;
    c.quant_tbl_no = comp.quant_tbl_no;
    c.blocks_h = static_cast<int>(comp.height_in_blocks);
    c.blocks_w = static_cast<int>(comp.width_in_blocks);
    // The table latched when the component's first scan started (tables may be redefined between scans). A
    // component that no scan names has none latched, and libjpeg never checked its table number (the frame
    // header's byte, 0..255): found by tests/fuzz/fuzz_jpeg_coefficients.cpp, it indexed past quant_tbl_ptrs.
    const JQUANT_TBL* q = comp.quant_table;
    if (q == nullptr && comp.quant_tbl_no >= 0 && comp.quant_tbl_no < NUM_QUANT_TBLS) {
      q = cinfo.quant_tbl_ptrs[comp.quant_tbl_no];
    }
    if (q == nullptr) {
      throw CodecError("jpeg", "read_coefficients: component " + std::to_string(comp.component_id) +
                                   " has no quantization table (it names table " +
                                   std::to_string(comp.quant_tbl_no) + ")");
    }
    for (std::size_t k = 0; k < kBlock; ++k) c.qtable[k] = q->quantval[k];
    const DirectArrays::Entry& e = direct.entries[ci];
    if (e.blocks_w < comp.width_in_blocks || e.rows < comp.height_in_blocks) {
      throw std::runtime_error("read_coefficients: libjpeg's coefficient array is smaller than the component");
    }
    c.blocks = direct.take(ci, comp.width_in_blocks, comp.height_in_blocks);
  }
  // Last: finishing frees libjpeg's image pool, where comp_info and the latched tables live.
  session.run([&] { jpeg_finish_decompress(&cinfo); });
  return out;
}

namespace {

// The values an 8-bit JPEG can code (T.81 F.1.2: DC differences in at most 11 bits, AC values in at most 10).
// A DC range of -1024..1023 keeps every difference within 11 bits. libjpeg-turbo's baseline Huffman encoder does
// not check (only its optimizing and progressive passes do): it wrote streams that decode to other values when
// given coefficients a corrupt file had decoded to (found by tests/fuzz/fuzz_jpeg_coefficients.cpp).
constexpr int kMinDc = -1024, kMaxDc = 1023, kMaxAc = 1023;

void check_values(const ComponentView& c, std::size_t index) {
  const std::size_t n = static_cast<std::size_t>(c.blocks_h) * c.blocks_w * kBlock;
  // A branch-free first pass (vectorised) over the common case: every value within -1023..1023.
  bool suspect = false;
  for (std::size_t i = 0; i < n; ++i) suspect |= static_cast<std::uint16_t>(c.blocks[i] + kMaxAc) > 2 * kMaxAc;
  if (!suspect) return;
  for (std::size_t i = 0; i < n; ++i) {
    const int v = c.blocks[i];
    const bool dc = i % kBlock == 0;
    if (dc ? (v < kMinDc || v > kMaxDc) : (v < -kMaxAc || v > kMaxAc)) {
      const std::size_t block = i / kBlock;
      throw InvalidArgument("write_coefficients: component " + std::to_string(index) + " block (" +
                            std::to_string(block / static_cast<std::size_t>(c.blocks_w)) + ", " +
                            std::to_string(block % static_cast<std::size_t>(c.blocks_w)) + ") has " +
                            (dc ? "DC" : "AC") + " coefficient " + std::to_string(v) + " at [" +
                            std::to_string(i % kBlock / 8) + ", " + std::to_string(i % 8) + "], outside the " +
                            (dc ? "-1024..1023" : "-1023..1023") + " an 8-bit JPEG can code");
    }
  }
}

int expected_components(J_COLOR_SPACE cs) {
  switch (cs) {
    case JCS_GRAYSCALE: return 1;
    case JCS_RGB: case JCS_YCbCr: return 3;
    case JCS_CMYK: case JCS_YCCK: return 4;
    default: return -1;
  }
}

void validate_layout(int width, int height, J_COLOR_SPACE cs, const std::vector<ComponentView>& comps) {
  if (width < 1 || height < 1 || width > JPEG_MAX_DIMENSION || height > JPEG_MAX_DIMENSION) {
    throw InvalidArgument("write_coefficients: image size must be 1.." + std::to_string(JPEG_MAX_DIMENSION) +
                          ", got " + std::to_string(width) + "x" + std::to_string(height));
  }
  check_pixel_limit(static_cast<std::uint64_t>(width), static_cast<std::uint64_t>(height), "write_coefficients");
  const int n = static_cast<int>(comps.size());
  if (n != expected_components(cs)) {
    throw InvalidArgument("write_coefficients: colour space " + std::string(color_space_name(cs)) + " needs " +
                          std::to_string(expected_components(cs)) + " components, got " + std::to_string(n));
  }
  int max_h = 1, max_v = 1;
  for (const auto& c : comps) {
    if (c.h_samp < 1 || c.h_samp > 4 || c.v_samp < 1 || c.v_samp > 4) {
      throw InvalidArgument("write_coefficients: sampling factors must be 1..4, got " + std::to_string(c.h_samp) +
                            "x" + std::to_string(c.v_samp));
    }
    max_h = std::max(max_h, c.h_samp);
    max_v = std::max(max_v, c.v_samp);
  }
  for (std::size_t i = 0; i < comps.size(); ++i) {
    const auto& c = comps[i];
    const int bw = ceil_div(static_cast<long long>(width) * c.h_samp, 8LL * max_h);
    const int bh = ceil_div(static_cast<long long>(height) * c.v_samp, 8LL * max_v);
    if (c.blocks_w != bw || c.blocks_h != bh) {
      throw InvalidArgument("write_coefficients: component " + std::to_string(i) + " has " +
                            std::to_string(c.blocks_h) + "x" + std::to_string(c.blocks_w) + " blocks, a " +
                            std::to_string(width) + "x" + std::to_string(height) + " image with sampling " +
                            std::to_string(c.h_samp) + "x" + std::to_string(c.v_samp) + " needs " +
                            std::to_string(bh) + "x" + std::to_string(bw));
    }
    for (std::size_t k = 0; k < kBlock; ++k) {
      if (c.qtable[k] < 1 || c.qtable[k] > 32767) {
        throw InvalidArgument("write_coefficients: component " + std::to_string(i) +
                              " quantization table values must be 1..32767, got " + std::to_string(c.qtable[k]));
      }
    }
    check_values(c, i);
  }
}

}  // namespace

EncodedBuffer write_coefficients(int width, int height, J_COLOR_SPACE color_space,
                                 const std::vector<ComponentView>& comps, const WriteOptions& options) {
  validate_layout(width, height, color_space, comps);
  if (options.restart_interval < 0 || options.restart_interval > 65535) {
    throw InvalidArgument("restart_interval: expected 0..65535 MCUs, got " + std::to_string(options.restart_interval));
  }
  // Components with equal tables share a DQT slot (at most 4 slots).
  std::vector<int> slot_of(comps.size());
  std::vector<const std::array<std::uint16_t, 64>*> slots;
  for (std::size_t i = 0; i < comps.size(); ++i) {
    auto it = std::find_if(slots.begin(), slots.end(), [&](const auto* t) { return *t == comps[i].qtable; });
    if (it == slots.end()) {
      slots.push_back(&comps[i].qtable);
      it = slots.end() - 1;
    }
    slot_of[i] = static_cast<int>(it - slots.begin());
  }
  if (slots.size() > NUM_QUANT_TBLS) throw InvalidArgument("write_coefficients: more than 4 distinct quantization tables");

  CompressSession s("write_coefficients");
  jpeg_compress_struct& c = s.cinfo();
  std::size_t total_coeffs = 0;
  for (const auto& comp : comps) total_coeffs += static_cast<std::size_t>(comp.blocks_h) * comp.blocks_w * kBlock;
  s.start_destination(total_coeffs / 2 + 4096);
  c.image_width = static_cast<JDIMENSION>(width);
  c.image_height = static_cast<JDIMENSION>(height);
  c.input_components = static_cast<int>(comps.size());
  c.in_color_space = color_space;
  std::vector<jvirt_barray_ptr> arrays(comps.size());
  jvirt_barray_ptr* array_ptrs = arrays.data();
  const int ncomp = static_cast<int>(comps.size());
  const int nslots = static_cast<int>(slots.size());
  const auto* slot_tables = slots.data();
  const int* slot_index = slot_of.data();
  const ComponentView* views = comps.data();
  s.run([&] {
    jpeg_set_defaults(&c);
    jpeg_set_colorspace(&c, color_space);
    for (int t = 0; t < nslots; ++t) {
      if (c.quant_tbl_ptrs[t] == nullptr) c.quant_tbl_ptrs[t] = jpeg_alloc_quant_table(reinterpret_cast<j_common_ptr>(&c));
      for (std::size_t k = 0; k < kBlock; ++k) c.quant_tbl_ptrs[t]->quantval[k] = (*slot_tables[t])[k];
      c.quant_tbl_ptrs[t]->sent_table = FALSE;
    }
    for (int i = 0; i < ncomp; ++i) {
      jpeg_component_info& comp = c.comp_info[i];
      comp.component_id = views[i].component_id;
      comp.h_samp_factor = views[i].h_samp;
      comp.v_samp_factor = views[i].v_samp;
      comp.quant_tbl_no = slot_index[i];
      // Arrays padded to whole MCUs, as libjpeg's transcoder expects; padding blocks are never read back.
      const JDIMENSION bw = static_cast<JDIMENSION>(views[i].blocks_w + views[i].h_samp - 1) / views[i].h_samp * views[i].h_samp;
      const JDIMENSION bh = static_cast<JDIMENSION>(views[i].blocks_h + views[i].v_samp - 1) / views[i].v_samp * views[i].v_samp;
      array_ptrs[i] = (*c.mem->request_virt_barray)(reinterpret_cast<j_common_ptr>(&c), JPOOL_IMAGE, TRUE, bw, bh,
                                                     static_cast<JDIMENSION>(views[i].v_samp));
    }
    (*c.mem->realize_virt_arrays)(reinterpret_cast<j_common_ptr>(&c));
    for (int i = 0; i < ncomp; ++i) {
      const std::size_t row_elems = static_cast<std::size_t>(views[i].blocks_w) * kBlock;
      for (int r = 0; r < views[i].blocks_h; ++r) {
        JBLOCKARRAY buf = (*c.mem->access_virt_barray)(reinterpret_cast<j_common_ptr>(&c), array_ptrs[i],
                                                        static_cast<JDIMENSION>(r), 1, TRUE);
        std::memcpy(buf[0][0], views[i].blocks + static_cast<std::size_t>(r) * row_elems, row_elems * sizeof(std::int16_t));
      }
    }
    c.optimize_coding = options.optimize ? TRUE : FALSE;
    c.restart_interval = static_cast<unsigned int>(options.restart_interval);
    if (options.progressive) jpeg_simple_progression(&c);
    jpeg_write_coefficients(&c, array_ptrs);
    jpeg_finish_compress(&c);
  });
  return s.take();
}

}  // namespace codeclens::jpeg
