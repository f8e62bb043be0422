#pragma once

// Umbrella header: everything sluice offers.
#include <sluice/version.hpp>
