#include "jpeg/probe.hpp"

namespace codeclens::jpeg {

JpegInfo probe(ByteView data) {
  DecompressSession session(data, /*strict=*/false, "probe", /*check_limit=*/false);
  const jpeg_decompress_struct& c = session.cinfo();
  JpegInfo info;
  info.header = frame_header(c);
  info.components = c.num_components;
  info.precision = c.data_precision;
  info.subsampling = subsampling_name(c);
  info.jfif = c.saw_JFIF_marker != 0;
  info.density_unit = c.density_unit;
  info.x_density = c.X_density;
  info.y_density = c.Y_density;
  for (int i = 0; i < c.num_components; ++i) {
    info.component_ids.push_back(c.comp_info[i].component_id);
    info.h_samp.push_back(c.comp_info[i].h_samp_factor);
    info.v_samp.push_back(c.comp_info[i].v_samp_factor);
    info.quant_tbl_no.push_back(c.comp_info[i].quant_tbl_no);
  }
  for (int t = 0; t < NUM_QUANT_TBLS; ++t) {
    const JQUANT_TBL* q = c.quant_tbl_ptrs[t];
    if (q == nullptr) continue;
    std::array<std::uint16_t, 64> table{};
    for (std::size_t k = 0; k < 64; ++k) table[k] = q->quantval[k];
    info.table_slots.push_back(t);
    info.tables.push_back(table);
  }
  return info;
}

}  // namespace codeclens::jpeg
