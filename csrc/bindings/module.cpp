// The compiled module codeclens._core: glue only, the work lives in csrc/<area>/.
#include "bindings/common.hpp"
#include "bindings/registry.hpp"

PYBIND11_MODULE(_core, m) {
  m.doc() = "codeclens C++ core: libjpeg-turbo codec wrappers, DCT coefficients, image-quality kernels.";
  codeclens::py_glue::register_errors(m);
  codeclens::py_glue::register_common(m);
  codeclens::py_glue::register_jpeg(m);
  codeclens::py_glue::register_dct(m);
}
