#pragma once

// Single source of the version: CMake, meson and the amalgamation script read these lines.
#define SLUICE_VERSION_MAJOR 0
#define SLUICE_VERSION_MINOR 1
#define SLUICE_VERSION_PATCH 0
#define SLUICE_VERSION_STRING "0.1.0"

namespace sluice {
/// The major version number (SLUICE_VERSION_MAJOR).
inline constexpr int version_major = SLUICE_VERSION_MAJOR;
/// The minor version number (SLUICE_VERSION_MINOR).
inline constexpr int version_minor = SLUICE_VERSION_MINOR;
/// The patch version number (SLUICE_VERSION_PATCH).
inline constexpr int version_patch = SLUICE_VERSION_PATCH;
/// The version as text, "major.minor.patch" (SLUICE_VERSION_STRING).
inline constexpr const char* version_string = SLUICE_VERSION_STRING;
} // namespace sluice
