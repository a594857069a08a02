#include "bindings/common.hpp"
#include "bindings/registry.hpp"
#include "common/limits.hpp"
#include "common/thread_pool.hpp"

namespace codeclens::py_glue {

void register_common(py::module_& m) {
  m.attr("__version__") = CODECLENS_VERSION;
  m.def("max_pixels", &codeclens::max_pixels,
        "Largest width * height a decoder accepts before allocating (default 178,956,970).");
  m.def("set_max_pixels", &codeclens::set_max_pixels, py::arg("limit"),
        "Set the pixel limit checked against every declared image size before allocation.");
  m.def("check_pixel_limit", &codeclens::check_pixel_limit, py::arg("width"), py::arg("height"), py::arg("what"),
        "ValueError naming `what`, the declared size and the limit when width * height exceeds max_pixels(): the "
        "one check and message of every decoder (the JPEG core's, and the Python decoders' through "
        "codeclens.codecs.base.check_pixel_limit).");
  m.def("default_thread_count", &codeclens::default_thread_count,
        "Worker threads a batch call uses when threads=None: CPUs in this process's affinity mask, or "
        "CODECLENS_NUM_THREADS when set.");
  m.def(
      "resolve_threads", [](const ThreadsArg& threads) { return resolve_threads(threads); }, py::arg("threads"),
      "The thread count an entry point uses for `threads`: None -> default_thread_count(), a positive int as "
      "given; 0 or a negative int raise ValueError, other types (bool, float, str) TypeError.");
}

}  // namespace codeclens::py_glue
