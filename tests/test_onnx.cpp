// The ONNX writer (io/onnx.hpp): protobuf wire bytes against hand-encoded values, padding and names,
// and the node list of a small network's export read back with a minimal protobuf reader. The whole
// models' exports are checked against ONNX Runtime and OpenCV by tests/onnx/check_export.py.
#include <doctest/doctest.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "lanmsff/io/onnx.hpp"
#include "lanmsff/lanmsff.hpp"

using namespace lanmsff;

namespace {

// The fields of one protobuf message: (field number, wire type, integer value or bytes).
struct Field {
  int number, wire;
  std::uint64_t value;
  std::string bytes;
};
std::vector<Field> parse(std::string_view s) {
  std::vector<Field> fields;
  std::size_t at = 0;
  const auto varint = [&] {
    std::uint64_t v = 0;
    for (int shift = 0;; shift += 7) {
      REQUIRE(at < s.size());
      const auto byte = std::uint8_t(s[at++]);
      v |= std::uint64_t(byte & 0x7f) << shift;
      if (!(byte & 0x80)) return v;
    }
  };
  while (at < s.size()) {
    const std::uint64_t key = varint();
    Field f{int(key >> 3), int(key & 7), 0, {}};
    if (f.wire == 0) f.value = varint();
    else if (f.wire == 2) {
      const std::uint64_t n = varint();
      REQUIRE(at + n <= s.size());
      f.bytes = std::string(s.substr(at, n));
      at += n;
    } else if (f.wire == 5) {
      REQUIRE(at + 4 <= s.size());
      f.bytes = std::string(s.substr(at, 4));
      at += 4;
    } else {
      FAIL("unexpected wire type ", f.wire);
    }
    fields.push_back(f);
  }
  return fields;
}
std::vector<std::string> all(const std::vector<Field>& fields, int number) {
  std::vector<std::string> out;
  for (const auto& f : fields)
    if (f.number == number) out.push_back(f.bytes);
  return out;
}

}  // namespace

TEST_CASE("onnx: protobuf wire bytes") {
  CHECK(onnx::Message().integer(1, 300).str() == std::string("\x08\xac\x02", 3));
  CHECK(onnx::Message().integer(2, 0).str() == std::string("\x10\x00", 2));
  // A negative int64 is ten bytes (two's complement as a 64-bit varint).
  CHECK(onnx::Message().integer(1, -1).str() == std::string("\x08\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 11));
  CHECK(onnx::Message().real(2, 1.0f).str() == std::string("\x15\x00\x00\x80\x3f", 5));
  CHECK(onnx::Message().bytes(3, "ab").str() == std::string("\x1a\x02" "ab", 4));
  onnx::Message inner;
  inner.integer(1, 5);
  CHECK(onnx::Message().message(16, inner).str() == std::string("\x82\x01\x02\x08\x05", 5));
}

TEST_CASE("onnx: TensorFlow padding as explicit pads, unique names") {
  // 'same', 3x3, stride 2 on 32: the odd padding row goes after (top 0, bottom 1).
  CHECK(onnx::Graph::pads(make_conv_geometry({32, 32, 4}, 8, 3, 2, 1, same)) == std::vector<std::int64_t>{0, 0, 1, 1});
  // 'same', 3x3, dilation 2: 2 on every side.
  CHECK(onnx::Graph::pads(make_conv_geometry({32, 32, 4}, 8, 3, 1, 2, same)) == std::vector<std::int64_t>{2, 2, 2, 2});
  // 'valid': none; the last column a stride skips needs no padding either.
  CHECK(onnx::Graph::pads(make_conv_geometry({9, 9, 4}, 8, 2, 2, 1, valid)) == std::vector<std::int64_t>{0, 0, 0, 0});
  onnx::Graph g;
  CHECK(g.fresh("block1.conv", "Conv") == "block1.conv/Conv");
  CHECK(g.fresh("block1.conv", "Conv") == "block1.conv/Conv_1");
  CHECK(g.fresh("input") == "input_1");  // the graph input's name is taken
  CHECK_THROWS_AS(g.named_node("Identity", {"x"}, "block1.conv/Conv"), std::logic_error);
}

TEST_CASE("onnx: a small network's graph: nodes in order, NCHW weights, inputs and outputs") {
  Network<Sequential<Named<"conv", Conv2D<2, 3>>, Named<"bn", BatchNorm<>>, Named<"relu", ReLU>, Named<"pool", MaxPool<2>>,
                     Named<"gap", GlobalAvgPool>, Named<"dense", Dense<3>>>,
          Shape{4, 4, 1}>
      net(1);
  // Kernel (3, 3, 1, 2) HWIO: value 10 * (3 y + x) + output channel.
  net.for_each_parameter([](const std::string& name, Parameter<float>& p) {
    if (name == "conv.kernel")
      for (int i = 0; i < 18; ++i) p.data()[i] = float(10 * (i / 2) + i % 2);
  });
  const std::string model = onnx::export_model(net);
  const auto top = parse(model);
  const auto graph = parse(all(top, 7).at(0));
  std::vector<std::string> ops, names;
  for (const auto& node : all(graph, 1)) ops.push_back(all(parse(node), 4).at(0));
  CHECK(ops == std::vector<std::string>{"Conv", "BatchNormalization", "Relu", "MaxPool", "GlobalAveragePool", "Conv",
                                        "Flatten", "Identity", "Softmax"});
  // The convolution's kernel as OIHW: output channel 1 first row 1, 11, 21.
  bool found = false;
  for (const auto& tensor : all(graph, 5)) {
    const auto fields = parse(tensor);
    if (all(fields, 8).at(0) != "conv/kernel") continue;
    found = true;
    std::vector<std::uint64_t> dims;
    for (const auto& f : fields)
      if (f.number == 1) dims.push_back(f.value);
    CHECK(dims == std::vector<std::uint64_t>{2, 1, 3, 3});
    const std::string raw = all(fields, 9).at(0);
    REQUIRE(raw.size() == 18 * 4);
    std::vector<float> w(18);
    std::memcpy(w.data(), raw.data(), raw.size());
    CHECK(w[9] == 1.0f);   // o 1, y 0, x 0
    CHECK(w[10] == 11.0f);  // o 1, y 0, x 1
    CHECK(w[12] == 31.0f);  // o 1, y 1, x 0
  }
  CHECK(found);
  // Input "input" (N, 1, 4, 4); outputs "logits" and "probabilities" (N, 3).
  const auto input = parse(all(graph, 11).at(0));
  CHECK(all(input, 1).at(0) == "input");
  std::vector<std::string> outputs;
  for (const auto& o : all(graph, 12)) outputs.push_back(all(parse(o), 1).at(0));
  CHECK(outputs == std::vector<std::string>{"logits", "probabilities"});
  // Opset 13 of the default domain.
  const auto opset = parse(all(top, 8).at(0));
  CHECK(opset.at(1).number == 2);
  CHECK(opset.at(1).value == 13);
}
