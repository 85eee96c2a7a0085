#pragma once
// Running the graph backwards (Note [Backward engine] in src/autograd/engine.cpp).
#include <functional>

#include "iccrt/autograd/node.hpp"

namespace iccrt::autograd {

// Accumulates into the .grad of every leaf that `outputs` depend on. grad_outputs: one per output, undefined
// allowed only for one-element outputs (1 is used). Without retain_graph the saved tensors are freed, and a
// second backward through the same graph raises ValueError.
ICCRT_API void backward(const TensorList& outputs, const TensorList& grad_outputs = {}, bool retain_graph = false);

// The gradients of `outputs` with respect to `inputs` (which need not be leaves), returned instead of
// accumulated into .grad. allow_unused: an input the outputs do not depend on gets an undefined tensor (else
// ValueError).
ICCRT_API TensorList grad(const TensorList& outputs, const TensorList& inputs, const TensorList& grad_outputs = {},
                          bool retain_graph = false, bool allow_unused = false);

// Queues `fn` to run once the backward pass running on this thread has finished every node, before backward()
// / grad() returns (callbacks queued by callbacks run too, in order). Data parallel waits for its last
// all-reduces here. Raises ValueError when no backward pass is running on this thread. If the pass fails, queued
// callbacks are dropped.
ICCRT_API void queue_callback(std::function<void()> fn);

}  // namespace iccrt::autograd
