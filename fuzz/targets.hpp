#pragma once

// Every fuzz target this build can compile (some need optional dependencies), for the unit tests that
// replay their corpora and reproducers (tests/test_fuzz_regressions.cpp). A new target: its header in
// fuzz/targets/, a line here, a line in fuzz/CMakeLists.txt, seeds in fuzz/corpus/<name>/ (see
// fuzz/README.md).

#include "fuzz.hpp"

#include "targets/aws_error.hpp"
#include "targets/disk_recovery.hpp"
#include "targets/http_request.hpp"
#include "targets/pulsar_frame.hpp"
#if SLUICE_HAS_CURL && SLUICE_HAS_OPENSSL && SLUICE_HAS_SIMDJSON
#include "targets/aws_config.hpp"
#include "targets/aws_services.hpp"
#include "targets/s3_response.hpp"
#endif
#if SLUICE_HAS_CURL && SLUICE_HAS_SIMDJSON
#include "targets/credentials.hpp"
#endif
#if SLUICE_HAS_CURL
#include "targets/sanitizers.hpp"
#endif
#if SLUICE_HAS_OPENSSL
#include "targets/objects_state.hpp"
#include "targets/sigv4.hpp"
#endif
#if SLUICE_HAS_SIMDJSON
#include "targets/bulk_response.hpp"
#include "targets/formats.hpp"
#include "targets/sqs_response.hpp"
#endif
#if SLUICE_HAS_TOMLPP
#include "targets/config_toml.hpp"
#endif
#if SLUICE_HAS_TOMLPP && SLUICE_HAS_CURL && SLUICE_HAS_OPENSSL && SLUICE_HAS_SIMDJSON
#include "targets/firehose_definition.hpp"
#endif
