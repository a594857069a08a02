// Shared libjpeg plumbing: error handling without exit(), in-memory destination, names of enums.
//
// libjpeg reports fatal errors through error_exit, which must not return. We longjmp out of it, back into
// `guarded()`, whose only frames between setjmp and libjpeg are the guarded lambda's: such lambdas call
// libjpeg and copy plain memory, and own no object with a destructor, so no C++ destructor is ever skipped.
// The caller turns the `false` from guarded() into a C++ exception after the jump.
#pragma once

#include <csetjmp>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <utility>

// jpeglib.h needs size_t and FILE declared first.
#include <jpeglib.h>
#include <jerror.h>

#include "common/memory.hpp"
#include "common/view.hpp"

namespace codeclens::jpeg {

// Per-object error state (one per libjpeg struct, never shared between threads).
struct ErrorState {
  jpeg_error_mgr mgr;       // first member: libjpeg's err pointer aliases the whole struct
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX + 64];
  bool strict;              // treat warnings (corrupt data that libjpeg can skip over) as errors
  int warnings;
  char first_warning[JMSG_LENGTH_MAX];
};

// Installs the handlers on `cinfo` (call before jpeg_create_*).
jpeg_error_mgr* install_error_handler(ErrorState& state, bool strict);

// Runs fn() under a setjmp guard. Returns false when libjpeg raised an error (message in state.message).
template <typename F>
bool guarded(ErrorState& state, F&& fn) {
  if (setjmp(state.jump)) return false;
  fn();
  return true;
}

// Throws codeclens::CodecError("jpeg", "<context>: <libjpeg message>").
[[noreturn]] void throw_jpeg_error(const ErrorState& state, const char* context);

// Progressive JPEGs can declare thousands of tiny scans to make decoding arbitrarily slow; above this many
// scans decoding stops with an error (libjpeg-turbo 3 has the same guard as TJPARAM_SCANLIMIT).
constexpr int kMaxScans = 500;
struct ScanLimit {
  jpeg_progress_mgr mgr;
  int max_scans;
};
void install_scan_limit(j_decompress_ptr cinfo, ScanLimit& limit);

// A destination manager that grows a malloc'd buffer (owned by this struct until release()).
struct GrowingDest {
  jpeg_destination_mgr mgr;  // first member, libjpeg sees this
  std::uint8_t* data;
  std::size_t capacity;
  std::size_t size;          // valid after finish
  bool failed;
};
void install_growing_dest(j_compress_ptr cinfo, GrowingDest& dest, std::size_t initial_capacity);

// Frame facts that both the header probe and the coefficient reader report.
struct FrameHeader {
  int width = 0, height = 0;
  J_COLOR_SPACE color_space = JCS_UNKNOWN;  // of the stored components
  bool progressive = false, arithmetic = false;
  int restart_interval = 0;  // MCUs, as declared before the first scan
  bool adobe = false;        // an Adobe APP14 marker was seen
  int adobe_transform = 0;
};
FrameHeader frame_header(const jpeg_decompress_struct& cinfo);

const char* color_space_name(J_COLOR_SPACE cs);
J_COLOR_SPACE color_space_from_name(const std::string& name);  // throws InvalidArgument
J_DCT_METHOD dct_method_from_name(const std::string& name);     // throws InvalidArgument

// "444", "422", "420", "440", "411", "441", "gray" or "h1v1,h2v1,..." for anything else.
std::string subsampling_name(const jpeg_decompress_struct& cinfo);

// Version string of the linked library ("libjpeg-turbo 2.1.5 (libjpeg API 62)").
std::string library_version();

}  // namespace codeclens::jpeg

namespace codeclens::jpeg {

// A libjpeg decompressor over caller memory whose header has been read and checked against the pixel
// limit. Owns the libjpeg object (destroyed in the destructor, also when construction fails half-way).
// Not copyable or movable: libjpeg keeps pointers into it.
class DecompressSession {
 public:
  // check_limit=false skips the pixel-limit check (for header-only probing).
  DecompressSession(ByteView data, bool strict, const char* context, bool check_limit = true);
  ~DecompressSession();
  DecompressSession(const DecompressSession&) = delete;
  DecompressSession& operator=(const DecompressSession&) = delete;

  jpeg_decompress_struct& cinfo() { return cinfo_; }
  const jpeg_decompress_struct& cinfo() const { return cinfo_; }
  int warnings() const { return err_.warnings; }

  // Runs fn (libjpeg calls and plain copies only) under the error guard; a libjpeg error becomes a
  // CodecError prefixed with this session's context.
  template <typename F>
  void run(F&& fn) {
    if (!guarded(err_, std::forward<F>(fn))) throw_jpeg_error(err_, context_);
  }

 private:
  jpeg_decompress_struct cinfo_{};
  ErrorState err_{};
  ScanLimit scan_limit_{};
  const char* context_;
};

// A libjpeg compressor writing into a growing malloc'd buffer; take() hands the finished stream over.
class CompressSession {
 public:
  explicit CompressSession(const char* context);
  ~CompressSession();
  CompressSession(const CompressSession&) = delete;
  CompressSession& operator=(const CompressSession&) = delete;

  jpeg_compress_struct& cinfo() { return cinfo_; }
  // Installs the destination with a first guess of the stream size (it grows by doubling).
  void start_destination(std::size_t initial_capacity) { install_growing_dest(&cinfo_, dest_, initial_capacity); }
  template <typename F>
  void run(F&& fn) {
    if (!guarded(err_, std::forward<F>(fn))) throw_jpeg_error(err_, context_);
  }
  EncodedBuffer take();

 private:
  jpeg_compress_struct cinfo_{};
  ErrorState err_{};
  GrowingDest dest_{};
  const char* context_;
};

}  // namespace codeclens::jpeg
