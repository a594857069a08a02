# libjpeg-turbo compiled from source for the fuzz targets (included by the top-level CMakeLists.txt when
# CODECLENS_FUZZ_LIBJPEG_SOURCE names a source tree; scripts/run.sh fetches Debian's, the version the core links).
#
# Why: the system libjpeg is not instrumented, so neither the fuzzer's coverage feedback nor AddressSanitizer would
# see libjpeg's marker and entropy decoders, the code that reads the untrusted bytes. Here it gets the fuzzer's
# coverage and ASan. Static, without SIMD (the assembly would be invisible to both; the C paths are fuzzed) and
# without the TurboJPEG API (the core uses the libjpeg API only). UBSan is not applied to libjpeg itself: its
# reports there would be libjpeg-turbo's to fix, not ours; our core keeps it.
enable_language(C)
if(NOT CMAKE_C_COMPILER_ID MATCHES "Clang")
  message(FATAL_ERROR "the instrumented libjpeg needs clang: configure with CC=clang (got ${CMAKE_C_COMPILER_ID})")
endif()
include(ExternalProject)
set(_jpeg_build ${CMAKE_BINARY_DIR}/libjpeg-turbo)
ExternalProject_Add(libjpeg_turbo_fuzz
  SOURCE_DIR ${CODECLENS_FUZZ_LIBJPEG_SOURCE}
  BINARY_DIR ${_jpeg_build}
  CMAKE_ARGS
    -DCMAKE_C_COMPILER=${CMAKE_C_COMPILER}
    -DCMAKE_BUILD_TYPE=RelWithDebInfo
    "-DCMAKE_C_FLAGS=-fsanitize=fuzzer-no-link,address -fno-omit-frame-pointer"
    -DCMAKE_POSITION_INDEPENDENT_CODE=ON
    -DCMAKE_POLICY_VERSION_MINIMUM=3.5
    -DENABLE_SHARED=OFF -DENABLE_STATIC=ON -DWITH_SIMD=OFF -DWITH_TURBOJPEG=OFF -DWITH_JPEG8=OFF
  BUILD_COMMAND ${CMAKE_COMMAND} --build <BINARY_DIR> --target jpeg-static
  INSTALL_COMMAND ""
  BUILD_BYPRODUCTS ${_jpeg_build}/libjpeg.a)
file(MAKE_DIRECTORY ${_jpeg_build})  # jconfig.h appears there when the external project configures
add_library(JPEG::JPEG STATIC IMPORTED GLOBAL)
set_target_properties(JPEG::JPEG PROPERTIES
  IMPORTED_LOCATION ${_jpeg_build}/libjpeg.a
  INTERFACE_INCLUDE_DIRECTORIES "${_jpeg_build};${CODECLENS_FUZZ_LIBJPEG_SOURCE}")
add_dependencies(JPEG::JPEG libjpeg_turbo_fuzz)
message(STATUS "fuzz targets: libjpeg-turbo compiled with the fuzz instrumentation from ${CODECLENS_FUZZ_LIBJPEG_SOURCE}")
