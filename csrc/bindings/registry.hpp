// One register_* per area of the core; module.cpp calls each once.
#pragma once

#include <pybind11/pybind11.h>

namespace codeclens::py_glue {
void register_common(pybind11::module_& m);
void register_jpeg(pybind11::module_& m);
void register_dct(pybind11::module_& m);
}  // namespace codeclens::py_glue
