#pragma once
// The collective-communication layer: process groups, stores, async work.
#include "iccrt/comm/process_group.hpp"
#include "iccrt/comm/store.hpp"
#include "iccrt/comm/types.hpp"
#include "iccrt/comm/work.hpp"
