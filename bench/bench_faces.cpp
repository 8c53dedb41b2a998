// Google Benchmark of the face front end on a 640x480 frame with one face (the portrait from Debian's
// facedetect package, grace_hopper_512x512.jpg, shrunk to 300x300 and set in a gray frame; another
// photo with LANMSFF_BENCH_PHOTO=path), each stage apart and the whole pipeline, as frames/s:
//   detect/min_face:80|40/threads:1|2   the HOG scan (40 upsamples the frame by 2 first)
//   landmarks                            the 68-point shape predictor on the face's box
//   align                                the similarity warp to LANMSFF's 64x64 gray crop
//   lanmsff                              LANMSFF (7 classes) on the crop, batch 1
//   pipeline/min_face:80|40              all four, as `lanmsff predict` runs them per video frame
// Run: build/bench/bench_faces (the threads follow OMP_NUM_THREADS / the machine, as the tool's do).
// GCC 12 warns of "uninitialized" values inside its own AVX-512 intrinsics (_mm512_undefined_ps, GCC bug
// 105593, fixed in GCC 13) when they are inlined in this program's order of headers; set before any header
// reads <immintrin.h>, this keeps the false positive out of the build log.
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ < 13
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <map>
#include <memory>

#include "lanmsff/faces/align.hpp"
#include "lanmsff/faces/detector.hpp"
#include "lanmsff/io/resize.hpp"
#include "lanmsff/models/lanmsff.hpp"

namespace {

using namespace lanmsff;

const io::ImageU8& frame() {
  static const io::ImageU8 image = [] {
    const char* env = std::getenv("LANMSFF_BENCH_PHOTO");
    const io::ImageU8 portrait =
        io::load_image_u8(env && *env ? env : "/usr/share/doc/facedetect/examples/grace_hopper_512x512.jpg", 3);
    const io::ImageU8 face = io::resize_bilinear(portrait, 300, 300);
    io::ImageU8 out(480, 640, 3, 110);
    for (int y = 0; y < 300; ++y) std::copy_n(face.pixel(y, 0), 300 * 3, out.pixel(90 + y, 170));
    return out;
  }();
  return image;
}

faces::FaceDetector& detector(int min_face, int threads) {
  static std::map<std::pair<int, int>, faces::FaceDetector> detectors;
  auto it = detectors.find({min_face, threads});
  if (it == detectors.end()) {
    faces::DetectorOptions options;
    options.min_face = min_face, options.threads = threads;
    it = detectors.emplace(std::pair{min_face, threads}, faces::FaceDetector(options)).first;
  }
  return it->second;
}

void set_frames(benchmark::State& state) {
  state.counters["frames/s"] = benchmark::Counter(double(state.iterations()), benchmark::Counter::kIsRate);
}

void detect(benchmark::State& state) {
  auto& d = detector(int(state.range(0)), int(state.range(1)));
  const auto gray = faces::FaceDetector::to_gray(frame());
  const int up = d.upsampling(frame().h(), frame().w());
  for (auto _ : state) {
    auto found = d.detect_boxes(gray, up);
    if (found.size() != 1) state.SkipWithError("the frame's face was not found");
    benchmark::DoNotOptimize(found);
  }
  set_frames(state);
}
BENCHMARK(detect)->ArgNames({"min_face", "threads"})->Args({80, 1})->Args({80, 2})->Args({40, 1})->Args({40, 2})
    ->Unit(benchmark::kMillisecond)->UseRealTime();

void landmarks(benchmark::State& state) {
  auto& d = detector(80, 0);
  const auto faces = d.detect(frame());
  if (faces.size() != 1) return state.SkipWithError("the frame's face was not found");
  for (auto _ : state) benchmark::DoNotOptimize(d.landmarks(frame(), faces[0].box));
  set_frames(state);
}
BENCHMARK(landmarks)->Unit(benchmark::kMillisecond)->UseRealTime();

void align(benchmark::State& state) {
  const auto faces = detector(80, 0).detect(frame());
  if (faces.size() != 1) return state.SkipWithError("the frame's face was not found");
  const auto spec = faces::AlignSpec::for_input({64, 64, 1});
  for (auto _ : state) benchmark::DoNotOptimize(faces::align_face(frame(), faces[0], spec));
  set_frames(state);
}
BENCHMARK(align)->Unit(benchmark::kMillisecond)->UseRealTime();

using Model = models::LANMSFF<7>;

void lanmsff(benchmark::State& state) {
  auto model = std::make_unique<Model>(1);
  Tensor<float> x(1, Model::input_shape);
  x.fill(0.5f);
  for (auto _ : state) benchmark::DoNotOptimize(model->forward(x).data());
  set_frames(state);
}
BENCHMARK(lanmsff)->Unit(benchmark::kMillisecond)->UseRealTime();

void pipeline(benchmark::State& state) {
  auto& d = detector(int(state.range(0)), 0);
  auto model = std::make_unique<Model>(1);
  const auto spec = faces::AlignSpec::for_input(Model::input_shape);
  Tensor<float> x(1, Model::input_shape);
  for (auto _ : state) {
    const auto faces = d.detect(frame());
    if (faces.size() != 1) return state.SkipWithError("the frame's face was not found");
    const io::Image crop = faces::align_face(frame(), faces[0], spec);
    std::copy(crop.begin(), crop.end(), x.data());
    benchmark::DoNotOptimize(model->forward(x).data());
  }
  set_frames(state);
}
BENCHMARK(pipeline)->ArgName("min_face")->Arg(80)->Arg(40)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
