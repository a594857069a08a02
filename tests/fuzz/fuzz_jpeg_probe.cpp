// libFuzzer target: jpeg::probe, the header reader behind codeclens.jpeg.probe (markers up to the first scan,
// no pixel limit). Properties: the per-component lists have one entry per component, one table per slot.
#include "fuzz_common.hpp"
#include "jpeg/probe.hpp"

using namespace codeclens;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  fuzz::refused([&] {
    const jpeg::JpegInfo info = jpeg::probe(ByteView{data, size});
    const auto n = static_cast<std::size_t>(info.components);
    if (info.component_ids.size() != n || info.h_samp.size() != n || info.v_samp.size() != n ||
        info.quant_tbl_no.size() != n) {
      fuzz::fail("probe: per-component lists disagree with the component count");
    }
    if (info.tables.size() != info.table_slots.size()) fuzz::fail("probe: tables and slots disagree");
    if (info.subsampling.empty()) fuzz::fail("probe: no subsampling name");
  });
  return 0;
}
