#pragma once
// The C++ optimizers: base class, SGD, AdamW, learning-rate schedules, gradient clipping.
#include "iccrt/optim/adamw.hpp"
#include "iccrt/optim/lr_scheduler.hpp"
#include "iccrt/optim/optimizer.hpp"
#include "iccrt/optim/sgd.hpp"
#include "iccrt/optim/utils.hpp"
