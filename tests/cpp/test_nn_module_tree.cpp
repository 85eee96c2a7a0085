// nn::Module's tree: registration rules and dotted names, parameters() de-duplication, train / eval, zero_grad,
// to(dtype) keeping the parameter slots in sync, state_dict round trips (in memory and through safetensors
// files) and every load_state_dict error.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "iccrt/autograd/functions.hpp"
#include "iccrt/core/error.hpp"
#include "iccrt/io/safetensors.hpp"
#include "iccrt/nn/nn.hpp"
#include "test_util.hpp"

namespace iccrt {
namespace {

using test::to_host;

// Registers its children before its own parameter and buffers; names still list a module's own entries before
// its children's (as PyTorch does), each group in registration order.
struct Block : nn::Module {
  explicit Block(Generator* gen)
      : Module("Block"),
        fc(register_module("fc", std::make_shared<nn::Linear>(3, 4, true, gen))),
        norm(register_module("norm", std::make_shared<nn::LayerNorm>(Shape{4}))),
        scale(register_parameter("scale", ones({4}))),
        count(register_buffer("count", zeros({1}, DType::Int64))),
        scratch(register_buffer("scratch", zeros({2}), /*persistent=*/false)) {}
  Tensor forward(const Tensor& x) { return mul(norm->forward(fc->forward(x)), scale); }

  std::shared_ptr<nn::Linear> fc;
  std::shared_ptr<nn::LayerNorm> norm;
  Tensor& scale;
  Tensor& count;
  Tensor& scratch;
};

struct Net : nn::Module {
  explicit Net(uint64_t seed) : Module("Net"), gen(seed) {
    blocks = register_module("blocks", std::make_shared<nn::ModuleList>());
    blocks->push_back(std::make_shared<Block>(&gen)).push_back(std::make_shared<Block>(&gen));
    head = register_module("head", std::make_shared<nn::Linear>(4, 2, false, &gen));
  }
  Tensor forward(const Tensor& x) {
    Tensor h = x;
    for (size_t i = 0; i < blocks->size(); ++i) h = blocks->at<Block>(i)->forward(h.narrow(-1, 0, 3));
    return head->forward(h);
  }
  Generator gen;
  std::shared_ptr<nn::ModuleList> blocks;
  std::shared_ptr<nn::Linear> head;
};

std::vector<std::string> names_of(const nn::StateDict& d) {
  std::vector<std::string> out;
  for (const auto& e : d) out.push_back(e.first);
  return out;
}

TEST(NnModuleTree, DottedNamesInRegistrationOrder) {
  Net net(1);
  const std::vector<std::string> params = {"blocks.0.scale",       "blocks.0.fc.weight", "blocks.0.fc.bias",
                                           "blocks.0.norm.weight", "blocks.0.norm.bias", "blocks.1.scale",
                                           "blocks.1.fc.weight",   "blocks.1.fc.bias",   "blocks.1.norm.weight",
                                           "blocks.1.norm.bias",   "head.weight"};
  EXPECT_EQ(names_of(net.named_parameters()), params);
  EXPECT_EQ(net.parameters().size(), params.size());
  EXPECT_EQ(net.num_parameters(), 2 * (4 + 12 + 4 + 4 + 4) + 8);
  EXPECT_TRUE(net.parameters(/*recurse=*/false).empty());
  EXPECT_EQ(names_of(net.named_buffers()),
            (std::vector<std::string>{"blocks.0.count", "blocks.0.scratch", "blocks.1.count", "blocks.1.scratch"}));
  // state_dict: parameters and persistent buffers, per module in order (own first, then children).
  EXPECT_EQ(names_of(net.state_dict()),
            (std::vector<std::string>{"blocks.0.scale", "blocks.0.count", "blocks.0.fc.weight", "blocks.0.fc.bias",
                                      "blocks.0.norm.weight", "blocks.0.norm.bias", "blocks.1.scale", "blocks.1.count",
                                      "blocks.1.fc.weight", "blocks.1.fc.bias", "blocks.1.norm.weight",
                                      "blocks.1.norm.bias", "head.weight"}));
  std::vector<std::string> modules;
  for (const auto& [name, m] : net.named_modules()) modules.push_back(name + ":" + m->type_name());
  EXPECT_EQ(modules, (std::vector<std::string>{":Net", "blocks:ModuleList", "blocks.0:Block", "blocks.0.fc:Linear",
                                               "blocks.0.norm:LayerNorm", "blocks.1:Block", "blocks.1.fc:Linear",
                                               "blocks.1.norm:LayerNorm", "head:Linear"}));
  ASSERT_EQ(net.children().size(), 2u);
  EXPECT_EQ(net.named_children()[1].first, "head");
  EXPECT_TRUE(net.find("blocks.1.fc.weight").requires_grad());
  EXPECT_THROW(net.find("blocks.2.fc.weight"), ValueError);
  EXPECT_THROW(net.blocks->at<nn::Linear>(0), ValueError);
  EXPECT_NE(net.str().find("(head): Linear(in_features=4, out_features=2, bias=false)"), std::string::npos)
      << net.str();
  // The slot references see what the tree sees.
  EXPECT_EQ(net.find("head.weight").autograd_meta(), net.head->weight.autograd_meta());
}

TEST(NnModuleTree, RegistrationRules) {
  nn::Module m("Custom");
  Tensor& w = m.register_parameter("w", zeros({2}));
  EXPECT_TRUE(w.requires_grad() && w.is_leaf());
  Tensor& frozen = m.register_parameter("frozen", zeros({2}), /*requires_grad=*/false);
  EXPECT_FALSE(frozen.requires_grad());
  EXPECT_EQ(m.parameters().size(), 2u);      // frozen parameters are still parameters
  EXPECT_EQ(m.num_parameters(true), 2);      // but not trainable
  m.register_parameter("absent", Tensor());  // an optional parameter left out
  EXPECT_EQ(m.parameters().size(), 2u);
  EXPECT_THROW(m.register_parameter("w", zeros({2})), ValueError);    // taken
  EXPECT_THROW(m.register_buffer("w", zeros({2})), ValueError);       // taken by a parameter
  EXPECT_THROW(m.register_parameter("a.b", zeros({2})), ValueError);  // dotted
  EXPECT_THROW(m.register_parameter("", zeros({2})), ValueError);     // empty
  EXPECT_THROW(m.register_parameter("i", zeros({2}, DType::Int32)), DTypeError);
  Tensor leaf = ones({2});
  leaf.set_requires_grad(true);
  EXPECT_THROW(m.register_parameter("nonleaf", mul(leaf, leaf)), ValueError);
  EXPECT_THROW(m.register_module("null", std::shared_ptr<nn::Linear>()), ValueError);
  // One tensor in two places is one parameter (listed once), but two state entries.
  nn::Module parent("Parent");
  auto a = parent.register_module("a", std::make_shared<nn::Module>("A"));
  auto b = parent.register_module("b", std::make_shared<nn::Module>("B"));
  Tensor& shared = a->register_parameter("w", ones({3}));
  b->register_parameter("tied", shared);
  EXPECT_EQ(names_of(parent.named_parameters()), (std::vector<std::string>{"a.w"}));
  EXPECT_EQ(names_of(parent.state_dict()), (std::vector<std::string>{"a.w", "b.tied"}));
}

TEST(NnModuleTree, TrainEvalAndZeroGrad) {
  Net net(2);
  EXPECT_TRUE(net.is_training());
  net.eval();
  for (const auto& [name, m] : net.named_modules()) EXPECT_FALSE(m->is_training()) << name;
  net.train();
  EXPECT_TRUE(net.blocks->at<Block>(1)->norm->is_training());

  std::mt19937 rng(1);
  const Tensor x = test::random_tensor({2, 5}, DType::Float32, -1, 1, rng);
  sum(net.forward(x)).backward();
  for (const Tensor& p : net.parameters()) EXPECT_TRUE(p.grad().defined());
  net.zero_grad(/*set_to_none=*/false);
  for (const Tensor& p : net.parameters()) EXPECT_EQ(to_host(p.grad()), std::vector<double>(p.numel(), 0.0));
  net.zero_grad();
  for (const Tensor& p : net.parameters()) EXPECT_FALSE(p.grad().defined());
}

TEST(NnModuleTree, ToDtypeKeepsSlotsAndLeaves) {
  Net net(3);
  const auto before = to_host(net.head->weight);
  std::mt19937 rng(2);
  sum(net.forward(test::random_tensor({2, 5}, DType::Float32, -1, 1, rng))).backward();
  net.to(DType::Float64);
  for (const auto& [name, p] : net.named_parameters()) {
    EXPECT_EQ(p.dtype(), DType::Float64) << name;
    EXPECT_TRUE(p.requires_grad() && p.is_leaf()) << name;
    EXPECT_EQ(p.grad().dtype(), DType::Float64) << name;  // gradients follow
  }
  EXPECT_EQ(net.head->weight.dtype(), DType::Float64);                   // the member reference sees the new tensor
  EXPECT_EQ(to_host(net.head->weight), before);                          // float32 -> float64 is exact
  EXPECT_EQ(net.blocks->at<Block>(0)->count.dtype(), DType::Int64);      // integer buffers keep their dtype
  EXPECT_EQ(net.blocks->at<Block>(0)->scratch.dtype(), DType::Float64);  // floating buffers convert
  const Tensor y = net.forward(test::random_tensor({2, 5}, DType::Float64, -1, 1, rng));
  EXPECT_EQ(y.dtype(), DType::Float64);
  EXPECT_THROW(net.to(DType::Int32), DTypeError);
  net.to(Device());  // already there: nothing changes
  EXPECT_EQ(net.head->weight.dtype(), DType::Float64);
}

TEST(NnModuleTree, StateDictRoundTripInMemoryAndThroughSafetensors) {
  Net a(10), b(20);
  a.blocks->at<Block>(1)->count.fill_(7);
  std::mt19937 rng(3);
  const Tensor x = test::random_tensor({3, 5}, DType::Float32, -1, 1, rng);
  const auto ya = to_host(a.forward(x));
  EXPECT_NE(to_host(b.forward(x)), ya);
  // b keeps its own tensors (handles an optimizer holds stay valid); only the values change.
  const auto meta = b.head->weight.autograd_meta();
  const nn::LoadStateResult r = b.load_state_dict(a.state_dict());
  EXPECT_TRUE(r.missing_keys.empty() && r.unexpected_keys.empty());
  EXPECT_EQ(b.head->weight.autograd_meta(), meta);
  EXPECT_EQ(to_host(b.forward(x)), ya);
  EXPECT_EQ(b.blocks->at<Block>(1)->count.get({0}), 7.0);

  std::string tmpl = ::testing::TempDir() + "iccrt_nn_XXXXXX";
  const int fd = mkstemp(tmpl.data());
  ASSERT_GE(fd, 0);
  close(fd);
  save_safetensors(tmpl, a.state_dict(), {{"format", "iccrt"}});
  Net c(30);
  const TensorFile f = load_safetensors(tmpl);
  std::remove(tmpl.c_str());
  EXPECT_EQ(names_of(f.tensors), names_of(a.state_dict()));
  c.load_state_dict(f.tensors);
  EXPECT_EQ(to_host(c.forward(x)), ya);
}

TEST(NnModuleTree, LoadStateDictErrorsNameTheKeysAndChangeNothing) {
  Net net(4);
  const auto original = to_host(net.head->weight);
  nn::StateDict sd = net.state_dict();
  for (auto& e : sd) e.second = e.second.clone();

  nn::StateDict missing(sd.begin() + 1, sd.end());
  missing.emplace_back("head.extra", zeros({1}));
  try {
    net.load_state_dict(missing);
    FAIL() << "expected ValueError";
  } catch (const ValueError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("missing keys: \"blocks.0.scale\""), std::string::npos) << msg;
    EXPECT_NE(msg.find("unexpected keys: \"head.extra\""), std::string::npos) << msg;
  }
  const nn::LoadStateResult r = net.load_state_dict(missing, /*strict=*/false);
  EXPECT_EQ(r.missing_keys, (std::vector<std::string>{"blocks.0.scale"}));
  EXPECT_EQ(r.unexpected_keys, (std::vector<std::string>{"head.extra"}));

  nn::StateDict wrong_shape = sd;
  wrong_shape.back().second = zeros({2, 5});
  wrong_shape.front().second = full({4}, 3.0);  // checked before anything is written
  try {
    net.load_state_dict(wrong_shape);
    FAIL() << "expected ShapeError";
  } catch (const ShapeError& e) {
    EXPECT_NE(std::string(e.what()).find("\"head.weight\""), std::string::npos) << e.what();
  }
  EXPECT_EQ(net.blocks->at<Block>(0)->scale.get({0}), 1.0);

  nn::StateDict wrong_dtype = sd;
  wrong_dtype.back().second = wrong_dtype.back().second.to(DType::Float64);
  EXPECT_THROW(net.load_state_dict(wrong_dtype), DTypeError);
  nn::StateDict duplicate = sd;
  duplicate.push_back(sd.front());
  EXPECT_THROW(net.load_state_dict(duplicate), ValueError);
  EXPECT_EQ(to_host(net.head->weight), original);
}

}  // namespace
}  // namespace iccrt
