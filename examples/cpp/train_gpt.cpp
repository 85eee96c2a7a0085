// A character-level GPT trained from C++ with iccrt's nn and optim layers, against the installed package.
//
//   train_gpt [input.txt] [--steps N] [--batch-size B] [--seq-len T] [--layers L] [--d-model E] [--heads H]
//             [--dropout P] [--lr X] [--min-lr X] [--warmup N] [--weight-decay X] [--grad-clip X]
//             [--log-every N] [--eval-batches N] [--seed S] [--sample N] [--save FILE]
//
// The model: token + position embeddings, pre-LayerNorm blocks (causal multi-head self-attention, then a GELU MLP,
// each added back onto the residual stream), a final LayerNorm, and an output head tied to the token embedding.
// AdamW with weight decay on the matrices only, linear warmup and cosine decay, gradient clipping.
//
// It prints the unigram entropy of the text first: a model that learned only how often each character occurs
// reaches that loss (in nats), so a held-out loss below it means the model uses context. One line per
// --log-every steps: "step N | loss X | tok/s Y". Exits 1 when the final held-out loss is not below the unigram
// entropy, 2 on bad arguments or an unreadable file.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iccrt/iccrt.hpp>
#include <iccrt/nn/nn.hpp>
#include <iccrt/optim/optim.hpp>
#include <map>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#ifndef ICCRT_GPT_DATA
#define ICCRT_GPT_DATA "examples/gpt/data/input.txt"
#endif

namespace {

using namespace iccrt;

struct Config {
  std::string data = ICCRT_GPT_DATA;
  int64_t steps = 400, batch = 16, seq_len = 64, layers = 4, d_model = 96, heads = 4;
  double dropout = 0.0, lr = 3e-3, min_lr = 3e-4, weight_decay = 0.1, grad_clip = 1.0;
  int64_t warmup = 40, log_every = 25, eval_batches = 8, sample = 200;
  uint64_t seed = 1337;
  std::string save;
};

// ---- the model -------------------------------------------------------------------------------------------------

struct Block : nn::Module {
  Block(const Config& c, Generator* gen)
      : Module("Block"),
        ln1(register_module("ln1", std::make_shared<nn::LayerNorm>(Shape{c.d_model}))),
        attn(register_module("attn", std::make_shared<nn::MultiheadAttention>(c.d_model, c.heads, true, gen))),
        ln2(register_module("ln2", std::make_shared<nn::LayerNorm>(Shape{c.d_model}))),
        fc(register_module("fc", std::make_shared<nn::Linear>(c.d_model, 4 * c.d_model, true, gen))),
        act(register_module("act", std::make_shared<nn::GELU>())),
        proj(register_module("proj", std::make_shared<nn::Linear>(4 * c.d_model, c.d_model, true, gen))),
        drop(register_module("drop", std::make_shared<nn::Dropout>(c.dropout, gen))) {}

  Tensor forward(const Tensor& x) {
    Tensor h = add(x, drop->forward(attn->forward(ln1->forward(x), /*causal=*/true)));
    return add(h, drop->forward(proj->forward(act->forward(fc->forward(ln2->forward(h))))));
  }

  std::shared_ptr<nn::LayerNorm> ln1;
  std::shared_ptr<nn::MultiheadAttention> attn;
  std::shared_ptr<nn::LayerNorm> ln2;
  std::shared_ptr<nn::Linear> fc;
  std::shared_ptr<nn::GELU> act;
  std::shared_ptr<nn::Linear> proj;
  std::shared_ptr<nn::Dropout> drop;
};

struct GPT : nn::Module {
  GPT(const Config& c, int64_t vocab, Generator* gen)
      : Module("GPT"),
        seq_len(c.seq_len),
        wte(register_module("wte", std::make_shared<nn::Embedding>(vocab, c.d_model, -1, gen))),
        wpe(register_module("wpe", std::make_shared<nn::Embedding>(c.seq_len, c.d_model, -1, gen))),
        blocks(register_module("blocks", std::make_shared<nn::ModuleList>())),
        ln_f(register_module("ln_f", std::make_shared<nn::LayerNorm>(Shape{c.d_model}))) {
    for (int64_t i = 0; i < c.layers; ++i) blocks->push_back(std::make_shared<Block>(c, gen));
    // GPT-2's initialisation: N(0, 0.02) for matrices and embeddings, zero biases, and the projections that
    // write into the residual stream scaled down by sqrt(2 * layers) so the stream's variance stays put.
    const double resid_std = 0.02 / std::sqrt(2.0 * static_cast<double>(c.layers));
    auto ends_with = [](const std::string& s, const std::string& tail) {
      return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
    };
    for (auto& [name, p] : named_parameters()) {
      if (name.find("ln") != std::string::npos) continue;  // LayerNorms keep ones / zeros
      if (ends_with(name, "bias"))
        nn::init::zeros_(p);
      else
        nn::init::normal_(p, 0.0, ends_with(name, "proj.weight") ? resid_std : 0.02, gen);
    }
  }

  // idx [B, T] (T <= seq_len) -> logits [B, T, vocab]
  Tensor forward(const Tensor& idx) {
    const int64_t t = idx.size(1);
    Tensor x = add(wte->forward(idx), wpe->forward(arange(0, t)));  // [B, T, E] + [T, E]
    for (const auto& block : *blocks) x = std::static_pointer_cast<Block>(block)->forward(x);
    return linear(ln_f->forward(x), wte->weight);  // tied head: logits against every token embedding
  }

  const int64_t seq_len;
  std::shared_ptr<nn::Embedding> wte, wpe;
  std::shared_ptr<nn::ModuleList> blocks;
  std::shared_ptr<nn::LayerNorm> ln_f;
};

// ---- data ---------------------------------------------------------------------------------------------------------

struct Corpus {
  std::vector<char> chars;  // id -> character
  std::vector<int64_t> train, val;
  double unigram_entropy = 0.0;  // nats per character over the whole text
};

bool load_corpus(const std::string& path, Corpus* out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string text = ss.str();
  if (text.size() < 1000) return false;
  std::map<char, int64_t> counts;
  for (char ch : text) ++counts[ch];
  std::map<char, int64_t> id;
  for (const auto& [ch, n] : counts) {
    id[ch] = static_cast<int64_t>(out->chars.size());
    out->chars.push_back(ch);
    const double p = static_cast<double>(n) / static_cast<double>(text.size());
    out->unigram_entropy -= p * std::log(p);
  }
  const size_t split = text.size() * 9 / 10;  // the last tenth is held out
  for (size_t i = 0; i < text.size(); ++i) (i < split ? out->train : out->val).push_back(id[text[i]]);
  return true;
}

// Random windows of `data`: inputs [B, T] and the next-character targets [B, T].
void sample_batch(const std::vector<int64_t>& data, int64_t batch, int64_t t, std::mt19937_64& rng, Tensor* x,
                  Tensor* y) {
  *x = empty({batch, t}, DType::Int64);
  *y = empty({batch, t}, DType::Int64);
  int64_t* xp = x->data<int64_t>();
  int64_t* yp = y->data<int64_t>();
  std::uniform_int_distribution<size_t> start(0, data.size() - static_cast<size_t>(t) - 1);
  for (int64_t b = 0; b < batch; ++b) {
    const size_t s = start(rng);
    for (int64_t i = 0; i < t; ++i) {
      xp[b * t + i] = data[s + i];
      yp[b * t + i] = data[s + i + 1];
    }
  }
}

Tensor loss_of(GPT& model, const Tensor& x, const Tensor& y) {
  const Tensor logits = model.forward(x);
  const int64_t v = logits.size(-1);
  return cross_entropy(logits.reshape({-1, v}), y.reshape({-1}));
}

double held_out_loss(GPT& model, const Corpus& c, const Config& cfg, std::mt19937_64& rng) {
  autograd::NoGradGuard no_grad;
  model.eval();
  double total = 0.0;
  for (int64_t i = 0; i < cfg.eval_batches; ++i) {
    Tensor x, y;
    sample_batch(c.val, cfg.batch, cfg.seq_len, rng, &x, &y);
    total += loss_of(model, x, y).item<double>();
  }
  model.train();
  return total / static_cast<double>(cfg.eval_batches);
}

std::string generate(GPT& model, const Corpus& c, int64_t n, std::mt19937_64& rng) {
  autograd::NoGradGuard no_grad;
  model.eval();
  std::vector<int64_t> ids{c.train[0]};
  std::string text(1, c.chars[static_cast<size_t>(ids[0])]);
  for (int64_t i = 0; i < n; ++i) {
    const size_t ctx = std::min<size_t>(ids.size(), static_cast<size_t>(model.seq_len));
    std::vector<double> window(ids.end() - static_cast<std::ptrdiff_t>(ctx), ids.end());
    const Tensor x = from_vector(window, {1, static_cast<int64_t>(ctx)}, DType::Int64);
    const Tensor probs = softmax(model.forward(x).select(1, static_cast<int64_t>(ctx) - 1).select(0, 0), 0);
    std::vector<double> p(static_cast<size_t>(probs.numel()));
    for (size_t k = 0; k < p.size(); ++k) p[k] = probs.get({static_cast<int64_t>(k)});
    const int64_t next = static_cast<int64_t>(std::discrete_distribution<size_t>(p.begin(), p.end())(rng));
    ids.push_back(next);
    text += c.chars[static_cast<size_t>(next)];
  }
  model.train();
  return text;
}

// ---- command line ---------------------------------------------------------------------------------------------

[[noreturn]] void usage(const char* msg) {
  std::fprintf(stderr,
               "train_gpt: %s\nusage: train_gpt [input.txt] [--steps N] [--batch-size B] [--seq-len T] [--layers L] "
               "[--d-model E] [--heads H] [--dropout P] [--lr X] [--min-lr X] [--warmup N] [--weight-decay X] "
               "[--grad-clip X] [--log-every N] [--eval-batches N] [--seed S] [--sample N] [--save FILE]\n",
               msg);
  std::exit(2);
}

Config parse(int argc, char** argv) {
  Config c;
  std::map<std::string, int64_t*> ints = {
      {"--steps", &c.steps},   {"--batch-size", &c.batch},    {"--seq-len", &c.seq_len},
      {"--layers", &c.layers}, {"--d-model", &c.d_model},     {"--heads", &c.heads},
      {"--warmup", &c.warmup}, {"--log-every", &c.log_every}, {"--eval-batches", &c.eval_batches},
      {"--sample", &c.sample}};
  std::map<std::string, double*> reals = {{"--dropout", &c.dropout},
                                          {"--lr", &c.lr},
                                          {"--min-lr", &c.min_lr},
                                          {"--weight-decay", &c.weight_decay},
                                          {"--grad-clip", &c.grad_clip}};
  bool have_path = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "-h" || a == "--help") usage("a character-level GPT on a text file");
    if (a.rfind("--", 0) != 0) {
      if (have_path) usage(("a second input file: " + a).c_str());
      c.data = a;
      have_path = true;
      continue;
    }
    if (i + 1 >= argc) usage((a + " needs a value").c_str());
    const char* v = argv[++i];
    char* end = nullptr;
    if (ints.count(a)) {
      *ints[a] = std::strtoll(v, &end, 10);
    } else if (reals.count(a)) {
      *reals[a] = std::strtod(v, &end);
    } else if (a == "--seed") {
      c.seed = std::strtoull(v, &end, 10);
    } else if (a == "--save") {
      c.save = v;
      continue;
    } else {
      usage(("unknown option " + a).c_str());
    }
    if (end == v || *end != '\0') usage((a + ": not a number: " + v).c_str());
  }
  if (c.steps < 1 || c.batch < 1 || c.seq_len < 2 || c.layers < 1 || c.heads < 1 || c.d_model % c.heads != 0 ||
      c.log_every < 1 || c.eval_batches < 1 || c.sample < 0 || c.warmup < 0)
    usage("sizes must be positive and --d-model a multiple of --heads");
  c.warmup = std::min(c.warmup, c.steps);
  return c;
}

}  // namespace

int main(int argc, char** argv) {
  const Config cfg = parse(argc, argv);
  Corpus corpus;
  if (!load_corpus(cfg.data, &corpus)) {
    std::fprintf(stderr, "train_gpt: cannot read a text of at least 1000 bytes from %s\n", cfg.data.c_str());
    return 2;
  }
  if (static_cast<int64_t>(corpus.val.size()) <= cfg.seq_len + 1) usage("--seq-len is longer than the held-out text");
  const int64_t vocab = static_cast<int64_t>(corpus.chars.size());
  std::printf("data: %s, %zu train / %zu held-out characters, vocabulary %lld\n", cfg.data.c_str(), corpus.train.size(),
              corpus.val.size(), static_cast<long long>(vocab));
  std::printf("unigram entropy: %.4f nats (the loss of a model that knows only character frequencies)\n",
              corpus.unigram_entropy);

  Generator gen(cfg.seed);
  GPT model(cfg, vocab, &gen);
  std::printf("model: %lld layers, d_model %lld, %lld heads, context %lld, %lld parameters\n",
              static_cast<long long>(cfg.layers), static_cast<long long>(cfg.d_model),
              static_cast<long long>(cfg.heads), static_cast<long long>(cfg.seq_len),
              static_cast<long long>(model.num_parameters()));

  // Weight decay on matrices only; biases, LayerNorm weights and nothing else stay undecayed.
  std::vector<Tensor> decay, no_decay;
  for (const auto& [name, p] : model.named_parameters()) (p.dim() >= 2 ? decay : no_decay).push_back(p);
  optim::AdamWOptions ao;
  ao.lr = cfg.lr;
  ao.beta2 = 0.99;
  ao.weight_decay = cfg.weight_decay;
  optim::AdamW opt(std::vector<optim::ParamGroup>{{decay}, {no_decay, {{"weight_decay", 0.0}}}}, ao);
  optim::CosineWarmupLR sched(opt, cfg.warmup, cfg.steps, cfg.min_lr);

  std::mt19937_64 rng(cfg.seed);
  const double tokens_per_step = static_cast<double>(cfg.batch * cfg.seq_len);
  double window_loss = 0.0, window_time = 0.0;
  int64_t window_steps = 0;
  for (int64_t step = 1; step <= cfg.steps; ++step) {
    const auto t0 = std::chrono::steady_clock::now();
    Tensor x, y;
    sample_batch(corpus.train, cfg.batch, cfg.seq_len, rng, &x, &y);
    const Tensor loss = loss_of(model, x, y);
    opt.zero_grad();
    loss.backward();
    if (cfg.grad_clip > 0) optim::clip_grad_norm_(model.parameters(), cfg.grad_clip);
    opt.step();
    sched.step();
    const double l = loss.item<double>();
    window_time += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    window_loss += l;
    ++window_steps;
    if (!std::isfinite(l)) {
      std::fprintf(stderr, "train_gpt: the loss became %f at step %lld\n", l, static_cast<long long>(step));
      return 1;
    }
    if (step == 1 || step % cfg.log_every == 0 || step == cfg.steps) {
      std::printf("step %lld | loss %.4f | tok/s %.0f\n", static_cast<long long>(step),
                  window_loss / static_cast<double>(window_steps),
                  tokens_per_step * static_cast<double>(window_steps) / window_time);
      std::fflush(stdout);
      window_loss = window_time = 0.0;
      window_steps = 0;
    }
  }

  const double val = held_out_loss(model, corpus, cfg, rng);
  std::printf("held-out loss %.4f vs unigram entropy %.4f\n", val, corpus.unigram_entropy);
  if (cfg.sample > 0) std::printf("sample:\n%s\n", generate(model, corpus, cfg.sample, rng).c_str());
  if (!cfg.save.empty()) {
    save_safetensors(cfg.save, model.state_dict(), {{"vocab", std::string(corpus.chars.begin(), corpus.chars.end())}});
    std::printf("saved the model's state to %s\n", cfg.save.c_str());
  }
  if (!(val < corpus.unigram_entropy)) {
    std::printf("FAILED: the held-out loss did not fall below the unigram entropy\n");
    return 1;
  }
  std::printf("ok: the model beats the unigram entropy by %.3f nats\n", corpus.unigram_entropy - val);
  return 0;
}
