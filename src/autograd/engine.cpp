// The backward engine.
//
// Note [Backward engine]: backward(outputs) first walks the graph from the outputs' nodes and counts, for every
// node, how many edges lead into it. A node runs once all of them have delivered (its count reaches zero), so
// it sees the sum of the gradients of every use of its outputs. Among ready nodes the most recently recorded
// runs first (highest sequence number), which matches the reverse of the forward order and makes data-parallel
// grad-ready hooks fire in reverse registration order. Nodes whose incoming gradients are all missing are
// skipped (their inputs get nothing either). Gradients returned by a node are checked against the geometry of
// the input they belong to: a wrong shape or device raises naming the node; a different floating dtype is cast
// (mixed precision). The whole pass runs with grad mode off: higher-order gradients are not supported.
#include "iccrt/autograd/engine.hpp"

#include <queue>
#include <unordered_map>
#include <unordered_set>

#include "iccrt/core/error.hpp"
#include "iccrt/ops/elementwise.hpp"

namespace iccrt::autograd {
namespace {

struct ByNewest {
  bool operator()(const Node* a, const Node* b) const { return a->sequence_nr < b->sequence_nr; }
};

// Where grad() wants gradients delivered instead of running the node behind them.
struct Capture {
  std::unordered_map<const Node*, std::vector<std::pair<uint32_t, size_t>>> slots;  // node -> (input_nr, result)
  TensorList results;
};

Tensor checked_gradient(const Node& node, size_t i, Tensor g) {
  const TensorGeometry& want = node.inputs_meta.at(i);
  ICCRT_CHECK_SHAPE(g.shape() == want.shape, "the backward of ", node.name(), " returned a gradient of shape ",
                    g.shape(), " for its input ", i, ", which has shape ", want.shape);
  ICCRT_CHECK_DEVICE(g.device() == want.device, "the backward of ", node.name(), " returned a gradient on ",
                     g.device().str(), " for its input ", i, ", which is on ", want.device.str());
  if (g.dtype() != want.dtype) g = g.to(want.dtype);
  return g;
}

// Callbacks queued during the backward passes running on this thread (innermost last: a hook may itself run
// a backward).
thread_local std::vector<std::vector<std::function<void()>>> t_callbacks;

struct CallbackFrame {
  CallbackFrame() { t_callbacks.emplace_back(); }
  ~CallbackFrame() { t_callbacks.pop_back(); }
  // Runs the frame's callbacks, including those they queue.
  void run_all() {
    for (size_t i = 0; i < t_callbacks.back().size(); ++i) {
      std::function<void()> fn = t_callbacks.back()[i];  // a copy: the vector may grow while it runs
      fn();
    }
  }
};

Tensor zeros_for(const TensorGeometry& g) { return zeros(g.shape, TensorOptions(g.dtype, g.device)); }

void run_graph(const std::vector<Edge>& roots, TensorList root_grads, bool retain_graph, Capture* capture);

void run(const std::vector<Edge>& roots, TensorList root_grads, bool retain_graph, Capture* capture) {
  CallbackFrame frame;
  run_graph(roots, std::move(root_grads), retain_graph, capture);
  frame.run_all();
}

void run_graph(const std::vector<Edge>& roots, TensorList root_grads, bool retain_graph, Capture* capture) {
  NoGradGuard no_grad;
  // Dependencies: how many edges lead into each node reachable from the roots.
  std::unordered_map<Node*, int> deps;
  std::unordered_map<Node*, std::vector<Node*>> parents;  // only kept for grad(): who feeds into whom
  std::vector<Node*> stack;
  std::unordered_set<Node*> seen;
  std::vector<std::shared_ptr<Node>> keep_alive;  // nodes stay alive while the pass runs even if released
  for (const Edge& e : roots)
    if (seen.insert(e.fn.get()).second) {
      stack.push_back(e.fn.get());
      keep_alive.push_back(e.fn);
    }
  while (!stack.empty()) {
    Node* n = stack.back();
    stack.pop_back();
    for (const Edge& e : n->next_edges) {
      if (!e.valid()) continue;
      ++deps[e.fn.get()];
      if (capture) parents[e.fn.get()].push_back(n);
      if (seen.insert(e.fn.get()).second) {
        stack.push_back(e.fn.get());
        keep_alive.push_back(e.fn);
      }
    }
  }

  // grad() runs only the nodes that lie above a captured gradient: the rest of the graph is neither computed
  // nor released, and no hook below the inputs fires.
  std::unordered_set<Node*> above_capture;
  if (capture) {
    std::vector<Node*> todo;
    for (const auto& [node, slots] : capture->slots) todo.push_back(const_cast<Node*>(node));
    while (!todo.empty()) {
      Node* n = todo.back();
      todo.pop_back();
      for (Node* p : parents[n])
        if (above_capture.insert(p).second) todo.push_back(p);
    }
  }

  std::unordered_map<Node*, TensorList> buffers;
  auto deliver = [&](Node* n, uint32_t slot, Tensor g) {
    TensorList& buf = buffers[n];
    if (buf.size() < n->outputs_meta.size()) buf.resize(n->outputs_meta.size());
    ICCRT_ASSERT(slot < buf.size(), "gradient for output ", slot, " of ", n->name(), " which has ", buf.size());
    if (!g.defined()) return;
    buf[slot] = buf[slot].defined() ? ops::add(buf[slot], g) : std::move(g);
  };
  for (size_t i = 0; i < roots.size(); ++i) deliver(roots[i].fn.get(), roots[i].input_nr, std::move(root_grads[i]));

  std::priority_queue<Node*, std::vector<Node*>, ByNewest> ready;
  for (Node* n : seen)
    if (deps[n] == 0) ready.push(n);

  while (!ready.empty()) {
    Node* node = ready.top();
    ready.pop();
    TensorList grads = std::move(buffers[node]);
    buffers.erase(node);
    grads.resize(node->outputs_meta.size());
    // Hooks registered on this node's output tensors see (and may replace) their gradient first.
    // Copied first: a hook may remove itself while it runs.
    const auto output_hooks = node->output_hooks;
    for (auto& [slot, hooks] : output_hooks) {
      if (slot >= grads.size() || !grads[slot].defined()) continue;
      for (auto& [id, hook] : hooks) {
        Tensor r = hook(grads[slot]);
        if (r.defined()) grads[slot] = checked_hook_result(r, node->outputs_meta[slot], "a tensor hook");
      }
    }
    bool any = false;
    for (const Tensor& g : grads) any = any || g.defined();

    bool execute = any;
    if (capture) {
      auto it = capture->slots.find(node);
      if (it != capture->slots.end()) {
        auto* acc = dynamic_cast<AccumulateGrad*>(node);
        for (auto [slot, result] : it->second) {
          Tensor g = grads.at(slot);
          if (acc && g.defined()) {  // a leaf's own hooks apply, as they would before accumulation
            const auto hooks = acc->leaf()->hooks;
            for (auto& [id, hook] : hooks) {
              Tensor r = hook(g);
              if (r.defined()) g = checked_hook_result(r, node->outputs_meta[0], "a hook on a leaf tensor");
            }
          }
          capture->results[result] = g;
        }
      }
      // grad() returns gradients, it does not accumulate them, and stops below the inputs.
      if (dynamic_cast<AccumulateGrad*>(node) || !above_capture.count(node)) execute = false;
    }

    TensorList input_grads;
    if (execute) {
      for (size_t i = 0; i < grads.size(); ++i)
        if (!grads[i].defined() && is_floating(node->outputs_meta[i].dtype))
          grads[i] = zeros_for(node->outputs_meta[i]);
      input_grads = node->apply(std::move(grads));
      ICCRT_CHECK_VALUE(input_grads.empty() || input_grads.size() == node->next_edges.size(), "the backward of ",
                        node->name(), " returned ", input_grads.size(), " gradients but it has ",
                        node->next_edges.size(), " inputs");
      if (!retain_graph) node->release();
    }
    for (size_t i = 0; i < node->next_edges.size(); ++i) {
      const Edge& e = node->next_edges[i];
      if (!e.valid()) continue;
      Tensor g = i < input_grads.size() ? std::move(input_grads[i]) : Tensor();
      deliver(e.fn.get(), e.input_nr, g.defined() ? checked_gradient(*node, i, std::move(g)) : Tensor());
      if (--deps[e.fn.get()] == 0) ready.push(e.fn.get());
    }
  }
}

// The roots' edges and their gradients (ones for one-element outputs given none).
std::vector<Edge> root_edges(const TensorList& outputs, TensorList& grads, const char* what) {
  ICCRT_CHECK_VALUE(grads.empty() || grads.size() == outputs.size(), what, ": got ", grads.size(),
                    " gradients for ", outputs.size(), " outputs");
  grads.resize(outputs.size());
  std::vector<Edge> edges;
  for (size_t i = 0; i < outputs.size(); ++i) {
    const Tensor& out = outputs[i];
    ICCRT_CHECK_VALUE(out.defined(), what, ": output ", i, " is undefined");
    ICCRT_CHECK_VALUE(out.requires_grad(), what, ": element ", i,
                      " of the outputs does not require grad and has no grad_fn (was it computed under no_grad, "
                      "or from tensors that do not require grad?)");
    Tensor& g = grads[i];
    if (!g.defined()) {
      ICCRT_CHECK_VALUE(out.numel() == 1, what, ": a gradient can be implied only for outputs with one element; "
                        "output ", i, " has shape ", out.shape(), ", so pass its gradient explicitly");
      g = ones(out.shape(), TensorOptions(out.dtype(), out.device()));
    } else {
      ICCRT_CHECK_SHAPE(g.shape() == out.shape(), what, ": gradient ", i, " has shape ", g.shape(),
                        " but the output has shape ", out.shape());
      ICCRT_CHECK_DEVICE(g.device() == out.device(), what, ": gradient ", i, " is on ", g.device().str(),
                         " but the output is on ", out.device().str());
      if (g.dtype() != out.dtype()) g = g.to(out.dtype());
      g = g.detach();
    }
    edges.push_back(gradient_edge(out));
  }
  return edges;
}

}  // namespace

void queue_callback(std::function<void()> fn) {
  ICCRT_CHECK_VALUE(!t_callbacks.empty(), "queue_callback: no backward pass is running on this thread");
  ICCRT_CHECK_VALUE(static_cast<bool>(fn), "queue_callback: empty callback");
  t_callbacks.back().push_back(std::move(fn));
}

void backward(const TensorList& outputs, const TensorList& grad_outputs, bool retain_graph) {
  TensorList grads = grad_outputs;
  std::vector<Edge> roots = root_edges(outputs, grads, "backward");
  run(roots, std::move(grads), retain_graph, nullptr);
}

TensorList grad(const TensorList& outputs, const TensorList& inputs, const TensorList& grad_outputs,
                bool retain_graph, bool allow_unused) {
  TensorList grads = grad_outputs;
  std::vector<Edge> roots = root_edges(outputs, grads, "grad");
  Capture capture;
  capture.results.resize(inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i) {
    ICCRT_CHECK_VALUE(inputs[i].defined() && inputs[i].requires_grad(), "grad: input ", i,
                      " does not require grad");
    Edge e = gradient_edge(inputs[i]);
    capture.slots[e.fn.get()].emplace_back(e.input_nr, i);
  }
  run(roots, std::move(grads), retain_graph, &capture);
  for (size_t i = 0; i < inputs.size(); ++i)
    ICCRT_CHECK_VALUE(allow_unused || capture.results[i].defined(), "grad: input ", i,
                      " was not used to compute the outputs; pass allow_unused=true if this is expected");
  return capture.results;
}

}  // namespace iccrt::autograd
