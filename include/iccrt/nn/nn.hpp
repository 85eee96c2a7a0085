#pragma once
// The C++ model-building layer: Module, the standard layers, initialisation, and the functional ops.
#include "iccrt/nn/functional.hpp"
#include "iccrt/nn/init.hpp"
#include "iccrt/nn/module.hpp"
#include "iccrt/nn/modules.hpp"
