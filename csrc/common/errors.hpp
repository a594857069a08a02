// Error types of the C++ core. The bindings map them to Python exceptions in one place
// (python_error() in bindings/common.cpp): InvalidArgument -> ValueError, TypeMismatch -> TypeError,
// CodecError -> codeclens.JpegError (a codeclens.CodecError, so a ValueError), std::bad_alloc -> MemoryError,
// anything else -> RuntimeError.
#pragma once

#include <stdexcept>
#include <string>

namespace codeclens {

// A value is out of range, shapes disagree, or data is unusable for a reason that is not a codec's.
struct InvalidArgument : std::invalid_argument {
  using std::invalid_argument::invalid_argument;
};

// The caller passed the wrong kind of object (dtype, buffer type).
struct TypeMismatch : std::invalid_argument {
  using std::invalid_argument::invalid_argument;
};

// A codec library refused the data (corrupt, truncated, unsupported); carries the library's message.
struct CodecError : std::runtime_error {
  std::string codec;
  CodecError(std::string codec_name, const std::string& message)
      : std::runtime_error(message), codec(std::move(codec_name)) {}
};

}  // namespace codeclens
