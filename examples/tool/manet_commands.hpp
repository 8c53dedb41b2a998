// The tool's MA-Net commands: plain functions, defined in manet_commands.cpp, the only translation
// unit that instantiates models::MANet. Keeping the 50M-parameter model's templates out of
// lanmsff.cpp lets the two compile in parallel, and a change to one not rebuild the other.
#pragma once

namespace lanmsff::tool {

struct ModelChoice;
struct TrainArgs;
struct EvalArgs;
struct PredictArgs;
struct BenchArgs;
struct ExportArgs;
struct QuantizeArgs;

// Each throws std::invalid_argument for a class count the tool does not ship (it ships 7 and 8),
// naming the available ones. The model comes from args.model / `model` (name "manet").
void train_manet(const TrainArgs& args);
void evaluate_manet(const EvalArgs& args, const ModelChoice& model);
void predict_manet(const PredictArgs& args, const ModelChoice& model);
void summarize_manet(const ModelChoice& model);
void bench_manet(const BenchArgs& args);
void export_manet(const ExportArgs& args, const ModelChoice& model);
void quantize_manet(const QuantizeArgs& args, const ModelChoice& model);

}  // namespace lanmsff::tool
