// Glue for csrc/jpeg: names what each entry accepts, releases the GIL around the codec, returns arrays that
// adopt the core's memory. Adapter, errors, threads and the batch runner are bindings/common.
#include <array>
#include <optional>
#include <string>
#include <vector>

#include <pybind11/stl.h>

#include "bindings/common.hpp"
#include "bindings/registry.hpp"
#include "common/errors.hpp"
#include "jpeg/coefficients.hpp"
#include "jpeg/decode.hpp"
#include "jpeg/encode.hpp"
#include "jpeg/probe.hpp"

namespace codeclens::py_glue {
namespace {

using namespace codeclens::jpeg;

ColorMode parse_mode(const std::string& mode) {
  if (mode == "rgb") return ColorMode::RGB;
  if (mode == "gray") return ColorMode::Gray;
  if (mode == "ycbcr") return ColorMode::YCbCr;
  throw InvalidArgument("mode: expected 'rgb', 'gray' or 'ycbcr', got '" + mode + "'");
}

DecodeOptions decode_options(const std::string& mode, int scale, const std::string& dct_method, bool strict) {
  DecodeOptions o;
  o.mode = parse_mode(mode);
  o.scale = scale;
  o.dct_method = dct_method_from_name(dct_method);
  o.strict = strict;
  return o;
}

// An image to encode: uint8 (H, W), (H, W, 1) or (H, W, 3) with packed pixels; rows may be strided.
ViewSpec image_spec() {
  ViewSpec s;
  s.what = "image";
  s.dtypes = {SampleType::U8};
  s.channels = {1, 3};
  s.packed = true;
  return s;
}

// decode's out=: a writable uint8 array of the decoded shape, packed pixels; (H, W) or (H, W, 1) for gray.
ViewSpec out_spec(int h, int w, int c) {
  ViewSpec s;
  s.what = "out";
  s.dtypes = {SampleType::U8};
  s.plane = c == 1;
  s.channels = {c};
  s.height = h;
  s.width = w;
  s.packed = true;
  s.writable = true;
  return s;
}

MutableImageView out_rows(const py::handle& out, int h, int w, int c) {
  const ImageView rows = image_rows(array_view(out, out_spec(h, w, c)).view);
  // array_view checked that the array is writable.
  return MutableImageView{const_cast<std::uint8_t*>(rows.data), rows.height, rows.width, rows.channels, rows.row_stride};
}

// Decodes into freshly malloc'd memory (no GIL needed).
struct DecodedImage {
  MallocPtr<std::uint8_t> pixels;
  int h = 0, w = 0, c = 0;
};

DecodedImage decode_to_malloc(ByteView data, const DecodeOptions& options) {
  Decoder dec(data, options);
  DecodedImage img;
  img.h = dec.height();
  img.w = dec.width();
  img.c = dec.channels();
  img.pixels = malloc_array<std::uint8_t>(static_cast<std::size_t>(img.h) * img.w * img.c);
  dec.decode_into(MutableImageView{img.pixels.get(), img.h, img.w, img.c, static_cast<std::ptrdiff_t>(img.w) * img.c});
  return img;
}

// (H, W) for one channel (the package's gray convention), else (H, W, C).
py::array to_array(DecodedImage&& img) {
  if (img.c == 1) return adopt(std::move(img.pixels), {img.h, img.w});
  return adopt(std::move(img.pixels), {img.h, img.w, img.c});
}

py::object decode(const py::handle& data, const std::string& mode, int scale, const std::string& dct_method,
                  bool strict, const py::object& out) {
  BufferRef buf(data, "data");
  const DecodeOptions options = decode_options(mode, scale, dct_method, strict);
  if (out.is_none()) {
    DecodedImage img;
    {
      py::gil_scoped_release nogil;
      img = decode_to_malloc(buf.view(), options);
    }
    return to_array(std::move(img));
  }
  std::optional<Decoder> dec;
  {
    py::gil_scoped_release nogil;
    dec.emplace(buf.view(), options);
  }
  const MutableImageView target = out_rows(out, dec->height(), dec->width(), dec->channels());
  {
    py::gil_scoped_release nogil;
    dec->decode_into(target);
  }
  return out;
}

struct DecodeItem {
  std::optional<BufferRef> data;
  DecodedImage image;
};

py::list decode_batch(const py::sequence& items, const std::string& mode, int scale, const std::string& dct_method,
                      bool strict, const ThreadsArg& threads) {
  const DecodeOptions options = decode_options(mode, scale, dct_method, strict);
  return run_batch<DecodeItem>(
      items, resolve_threads(threads), [](const py::handle& item, DecodeItem& s) { s.data.emplace(item, "data"); },
      [&](DecodeItem& s) { s.image = decode_to_malloc(s.data->view(), options); },
      [](DecodeItem& s) { return to_array(std::move(s.image)); });
}

std::vector<std::array<std::uint16_t, 64>> parse_qtables(const py::object& qtables) {
  std::vector<std::array<std::uint16_t, 64>> out;
  if (qtables.is_none()) return out;
  for (const py::handle& t : qtables) {
    auto a = py::array_t<std::int64_t, py::array::c_style | py::array::forcecast>::ensure(t);
    if (!a) {
      PyErr_Clear();
      throw TypeMismatch("qtables: expected a sequence of 64-value tables (8x8 arrays or flat lists of integers)");
    }
    if (a.size() != 64) throw InvalidArgument("qtables: each table needs 64 values, got " + std::to_string(a.size()));
    std::array<std::uint16_t, 64> table{};
    const std::int64_t* p = a.data();
    for (std::size_t k = 0; k < 64; ++k) {
      if (p[k] < 1 || p[k] > 32767) {
        throw InvalidArgument("qtables: values must be in 1..32767, got " + std::to_string(p[k]) + " at index " + std::to_string(k));
      }
      table[k] = static_cast<std::uint16_t>(p[k]);
    }
    out.push_back(table);
  }
  return out;
}

EncodeOptions encode_options(int quality, const std::string& subsampling, const py::object& qtables, bool progressive,
                             bool optimize, const std::string& dct_method, int restart_interval) {
  EncodeOptions o;
  o.quality = quality;
  o.subsampling = subsampling_from_name(subsampling);
  o.qtables = parse_qtables(qtables);
  o.progressive = progressive;
  o.optimize = optimize;
  o.dct_method = dct_method_from_name(dct_method);
  o.restart_interval = restart_interval;
  return o;
}

py::bytes to_bytes(const EncodedBuffer& buf) {
  return py::bytes(reinterpret_cast<const char*>(buf.data.get()), static_cast<py::ssize_t>(buf.size));
}

py::bytes encode(const py::handle& image, int quality, const std::string& subsampling, const py::object& qtables,
                 bool progressive, bool optimize, const std::string& dct_method, int restart_interval) {
  const ArrayView input = array_view(image, image_spec());
  const EncodeOptions options = encode_options(quality, subsampling, qtables, progressive, optimize, dct_method, restart_interval);
  EncodedBuffer out;
  {
    py::gil_scoped_release nogil;
    out = jpeg::encode(image_rows(input.view), options);
  }
  return to_bytes(out);
}

struct EncodeItem {
  ArrayView image;
  EncodedBuffer encoded;
};

py::list encode_batch(const py::sequence& images, int quality, const std::string& subsampling, const py::object& qtables,
                      bool progressive, bool optimize, const std::string& dct_method, int restart_interval,
                      const ThreadsArg& threads) {
  const EncodeOptions options = encode_options(quality, subsampling, qtables, progressive, optimize, dct_method, restart_interval);
  return run_batch<EncodeItem>(
      images, resolve_threads(threads),
      [](const py::handle& item, EncodeItem& s) { s.image = array_view(item, image_spec()); },
      [&](EncodeItem& s) { s.encoded = jpeg::encode(image_rows(s.image.view), options); },
      [](EncodeItem& s) { return to_bytes(s.encoded); });
}

py::array table_array(const std::array<std::uint16_t, 64>& t) {
  py::array_t<std::uint16_t> a({8, 8});
  std::copy(t.begin(), t.end(), a.mutable_data());
  return std::move(a);
}

// The frame facts shared by probe() and read_coefficients().
py::dict header_dict(const FrameHeader& h) {
  py::dict d;
  d["width"] = h.width;
  d["height"] = h.height;
  d["color_space"] = color_space_name(h.color_space);
  d["progressive"] = h.progressive;
  d["arithmetic"] = h.arithmetic;
  d["restart_interval"] = h.restart_interval;
  d["adobe"] = h.adobe;
  d["adobe_transform"] = h.adobe_transform;
  return d;
}

py::dict coefficients_dict(Coefficients&& c) {
  py::list comps;
  for (auto& comp : c.components) {
    py::dict d;
    d["component_id"] = comp.component_id;
    d["h_samp"] = comp.h_samp;
    d["v_samp"] = comp.v_samp;
    d["quant_tbl_no"] = comp.quant_tbl_no;
    d["qtable"] = table_array(comp.qtable);
    d["coefficients"] = adopt(std::move(comp.blocks), {comp.blocks_h, comp.blocks_w, 8, 8});
    comps.append(d);
  }
  py::dict d = header_dict(c.header);
  d["components"] = comps;
  return d;
}

py::dict read_coefficients(const py::handle& data, bool strict) {
  BufferRef buf(data, "data");
  Coefficients c;
  {
    py::gil_scoped_release nogil;
    c = jpeg::read_coefficients(buf.view(), strict);
  }
  return coefficients_dict(std::move(c));
}

struct CoefficientsItem {
  std::optional<BufferRef> data;
  Coefficients coefficients;
};

py::list read_coefficients_batch(const py::sequence& items, bool strict, const ThreadsArg& threads) {
  return run_batch<CoefficientsItem>(
      items, resolve_threads(threads),
      [](const py::handle& item, CoefficientsItem& s) { s.data.emplace(item, "data"); },
      [&](CoefficientsItem& s) { s.coefficients = jpeg::read_coefficients(s.data->view(), strict); },
      [](CoefficientsItem& s) { return coefficients_dict(std::move(s.coefficients)); });
}

py::bytes write_coefficients(int width, int height, const std::string& color_space, const py::list& components,
                             bool progressive, bool optimize, int restart_interval) {
  std::vector<ComponentView> views;
  std::vector<py::array> keep;
  for (std::size_t i = 0; i < components.size(); ++i) {
    py::tuple t = components[i].cast<py::tuple>();  // (component_id, h_samp, v_samp, qtable, coefficients)
    ComponentView v;
    v.component_id = t[0].cast<int>();
    v.h_samp = t[1].cast<int>();
    v.v_samp = t[2].cast<int>();
    v.qtable = parse_qtables(py::make_tuple(t[3])).at(0);
    py::object blocks_obj = t[4];
    if (!py::isinstance<py::array>(blocks_obj) || !py::reinterpret_borrow<py::array>(blocks_obj).dtype().equal(py::dtype::of<std::int16_t>())) {
      throw TypeMismatch("components[" + std::to_string(i) + "].coefficients: expected an int16 numpy array");
    }
    auto blocks = py::reinterpret_borrow<py::array>(blocks_obj);
    if (blocks.ndim() != 4 || blocks.shape(2) != 8 || blocks.shape(3) != 8) {
      throw InvalidArgument("components[" + std::to_string(i) + "].coefficients: expected shape (blocks_h, blocks_w, 8, 8), got " +
                            shape_text(blocks));
    }
    if (!(blocks.flags() & py::array::c_style)) {
      throw InvalidArgument("components[" + std::to_string(i) + "].coefficients: expected a C-contiguous array");
    }
    v.blocks_h = static_cast<int>(blocks.shape(0));
    v.blocks_w = static_cast<int>(blocks.shape(1));
    v.blocks = static_cast<const std::int16_t*>(blocks.data());
    keep.push_back(blocks);
    views.push_back(v);
  }
  WriteOptions options;
  options.progressive = progressive;
  options.optimize = optimize;
  options.restart_interval = restart_interval;
  const J_COLOR_SPACE cs = color_space_from_name(color_space);
  EncodedBuffer out;
  {
    py::gil_scoped_release nogil;
    out = jpeg::write_coefficients(width, height, cs, views, options);
  }
  return to_bytes(out);
}

py::dict probe(const py::handle& data) {
  BufferRef buf(data, "data");
  JpegInfo info;
  {
    py::gil_scoped_release nogil;
    info = jpeg::probe(buf.view());
  }
  py::dict d = header_dict(info.header);
  d["components"] = info.components;
  d["precision"] = info.precision;
  d["subsampling"] = info.subsampling;
  d["jfif"] = info.jfif;
  d["density"] = py::make_tuple(info.density_unit, info.x_density, info.y_density);
  d["component_ids"] = info.component_ids;
  py::list sampling;
  for (std::size_t i = 0; i < info.h_samp.size(); ++i) sampling.append(py::make_tuple(info.h_samp[i], info.v_samp[i]));
  d["sampling"] = sampling;
  d["quant_tbl_no"] = info.quant_tbl_no;
  py::dict tables;
  for (std::size_t i = 0; i < info.tables.size(); ++i) tables[py::int_(info.table_slots[i])] = table_array(info.tables[i]);
  d["qtables"] = tables;
  return d;
}

}  // namespace

void register_jpeg(py::module_& m) {
  m.def("jpeg_library_version", &library_version, "The linked JPEG library, e.g. 'libjpeg-turbo 2.1.5 (libjpeg API 62)'.");
  m.def("jpeg_decode", &decode, py::arg("data"), py::arg("mode") = "rgb", py::arg("scale") = 1,
        py::arg("dct_method") = "islow", py::arg("strict") = false, py::arg("out") = py::none(),
        "Decode JPEG bytes to a uint8 array: (H, W, 3) for rgb/ycbcr, (H, W) for gray; out= is filled and returned.");
  m.def("jpeg_decode_batch", &decode_batch, py::arg("items"), py::arg("mode") = "rgb", py::arg("scale") = 1,
        py::arg("dct_method") = "islow", py::arg("strict") = false, py::arg("threads") = py::none(),
        "Decode many JPEGs on the core's thread pool: a list of arrays, or exception instances for failed items.");
  m.def("jpeg_encode", &encode, py::arg("image"), py::arg("quality") = 75, py::arg("subsampling") = "420",
        py::arg("qtables") = py::none(), py::arg("progressive") = false, py::arg("optimize") = false,
        py::arg("dct_method") = "islow", py::arg("restart_interval") = 0,
        "Encode a uint8 (H, W), (H, W, 1) or (H, W, 3) array to JPEG bytes.");
  m.def("jpeg_encode_batch", &encode_batch, py::arg("images"), py::arg("quality") = 75, py::arg("subsampling") = "420",
        py::arg("qtables") = py::none(), py::arg("progressive") = false, py::arg("optimize") = false,
        py::arg("dct_method") = "islow", py::arg("restart_interval") = 0, py::arg("threads") = py::none(),
        "Encode many arrays on the core's thread pool: a list of bytes, or exception instances for failed items.");
  m.def("jpeg_read_coefficients", &read_coefficients, py::arg("data"), py::arg("strict") = false,
        "Quantized DCT coefficients of every component, without transcoding.");
  m.def("jpeg_read_coefficients_batch", &read_coefficients_batch, py::arg("items"), py::arg("strict") = false,
        py::arg("threads") = py::none(),
        "read_coefficients over many JPEGs on the core's thread pool; failed items hold their exception instance.");
  m.def("jpeg_write_coefficients", &write_coefficients, py::arg("width"), py::arg("height"), py::arg("color_space"),
        py::arg("components"), py::arg("progressive") = false, py::arg("optimize") = true, py::arg("restart_interval") = 0,
        "Write a JPEG from quantized coefficients: components are (id, h_samp, v_samp, qtable, int16 blocks).");
  m.def("jpeg_probe", &probe, py::arg("data"), "Header facts without decoding pixels.");
}

}  // namespace codeclens::py_glue
