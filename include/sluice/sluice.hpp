#pragma once

// Umbrella header: everything sluice offers.
#include <sluice/version.hpp>

// core
#include <sluice/core/executor.hpp>
#include <sluice/core/sync_wait.hpp>
#include <sluice/core/task.hpp>

// io
#include <sluice/io/loop.hpp>
