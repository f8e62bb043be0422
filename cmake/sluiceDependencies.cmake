# Finds what sluice links against and describes it in variables.
#
# Used by the top-level CMakeLists.txt and by tests/single_header (a standalone project that must
# see the same dependencies as the INTERFACE target, without its include directory).
#
# Required: liburing (pkg-config module `liburing`) and Threads.
# Optional, each controlled by a cache variable SLUICE_WITH_<NAME> = AUTO | ON | OFF:
#   CURL      find_package(CURL)                  -> CURL::libcurl
#   OPENSSL   find_package(OpenSSL)               -> OpenSSL::SSL OpenSSL::Crypto
#   ZSTD      pkg-config libzstd                  -> PkgConfig::sluice_libzstd
#   LZ4       pkg-config liblz4                   -> PkgConfig::sluice_liblz4
#   SIMDJSON  find_package(simdjson) or pkg-config -> simdjson::simdjson / PkgConfig::sluice_simdjson
#   ZLIB      pkg-config zlib                     -> PkgConfig::sluice_zlib
#   SNAPPY    pkg-config snappy                   -> PkgConfig::sluice_snappy
#   TOMLPP    find_package(tomlplusplus) or pkg-config -> tomlplusplus::tomlplusplus /
#             PkgConfig::sluice_tomlplusplus, in SLUICE_TOMLPP_TARGET only: just the configuration layer
#             (sluice/config/toml_config.hpp, the target sluice::config) and sluiced use it, so it is
#             neither linked to sluice::sluice nor in SLUICE_DEPENDENCY_DEFINES or sluice.pc
#
# After sluice_resolve_dependencies():
#   SLUICE_DEPENDENCY_TARGETS   targets to link (INTERFACE)
#   SLUICE_DEPENDENCY_DEFINES   compile definitions (SLUICE_HAS_<NAME>=1 for each optional dep found)
#   SLUICE_HAS_<NAME>           1 or 0 for each optional dependency
#   SLUICE_SIMDJSON_METHOD      "cmake" or "pkg-config" (only meaningful when SLUICE_HAS_SIMDJSON)
#   SLUICE_TOMLPP_METHOD        "cmake" or "pkg-config" (only meaningful when SLUICE_HAS_TOMLPP)
#   SLUICE_TOMLPP_TARGET        the toml++ target to link (only meaningful when SLUICE_HAS_TOMLPP)
#   SLUICE_PC_REQUIRES          pkg-config modules for sluice.pc's Requires:
#   SLUICE_PC_CFLAGS            extra Cflags for sluice.pc (the defines)

include_guard(GLOBAL)

set(SLUICE_OPTIONAL_DEPENDENCIES CURL OPENSSL ZSTD LZ4 SIMDJSON ZLIB SNAPPY TOMLPP)

foreach(_sluice_dep IN LISTS SLUICE_OPTIONAL_DEPENDENCIES)
    set(SLUICE_WITH_${_sluice_dep} AUTO CACHE STRING
        "Use the optional ${_sluice_dep} dependency: AUTO (when found), ON (required) or OFF")
    set_property(CACHE SLUICE_WITH_${_sluice_dep} PROPERTY STRINGS AUTO ON OFF)
endforeach()
unset(_sluice_dep)

# _sluice_feature_mode(<NAME> <out-var>) -> AUTO / ON / OFF (accepts any CMake boolean spelling).
function(_sluice_feature_mode name out)
    string(TOUPPER "${SLUICE_WITH_${name}}" mode)
    if(mode STREQUAL "AUTO" OR mode STREQUAL "")
        set(mode AUTO)
    elseif(SLUICE_WITH_${name})
        set(mode ON)
    else()
        set(mode OFF)
    endif()
    set(${out} ${mode} PARENT_SCOPE)
endfunction()

macro(_sluice_pkg_module prefix module mode)
    if("${mode}" STREQUAL "ON")
        pkg_check_modules(${prefix} REQUIRED IMPORTED_TARGET GLOBAL ${module})
    else()
        pkg_check_modules(${prefix} QUIET IMPORTED_TARGET GLOBAL ${module})
    endif()
endmacro()

macro(sluice_resolve_dependencies)
    set(SLUICE_DEPENDENCY_TARGETS "")
    set(SLUICE_DEPENDENCY_DEFINES "")
    set(SLUICE_PC_REQUIRES "liburing")
    set(SLUICE_PC_CFLAGS "")
    set(SLUICE_SIMDJSON_METHOD "")
    set(SLUICE_TOMLPP_METHOD "")
    set(SLUICE_TOMLPP_TARGET "")

    find_package(PkgConfig REQUIRED)

    # --- required -------------------------------------------------------------------------------
    pkg_check_modules(sluice_liburing IMPORTED_TARGET GLOBAL liburing)
    if(NOT sluice_liburing_FOUND)
        message(FATAL_ERROR "sluice needs liburing (pkg-config module 'liburing'); "
                            "on Debian/Ubuntu: apt-get install liburing-dev")
    endif()
    set(THREADS_PREFER_PTHREAD_FLAG ON)
    find_package(Threads REQUIRED)
    list(APPEND SLUICE_DEPENDENCY_TARGETS PkgConfig::sluice_liburing Threads::Threads)

    # --- optional -------------------------------------------------------------------------------
    foreach(_sluice_dep IN LISTS SLUICE_OPTIONAL_DEPENDENCIES)
        set(SLUICE_HAS_${_sluice_dep} 0)
        _sluice_feature_mode(${_sluice_dep} _sluice_mode)
        if(_sluice_mode STREQUAL "OFF")
            continue()
        endif()
        if(_sluice_mode STREQUAL "ON")
            set(_sluice_req REQUIRED)
        else()
            set(_sluice_req "")
        endif()

        if(_sluice_dep STREQUAL "CURL")
            find_package(CURL ${_sluice_req})
            if(CURL_FOUND AND TARGET CURL::libcurl)
                set(SLUICE_HAS_CURL 1)
                list(APPEND SLUICE_DEPENDENCY_TARGETS CURL::libcurl)
                list(APPEND SLUICE_PC_REQUIRES libcurl)
            endif()
        elseif(_sluice_dep STREQUAL "OPENSSL")
            find_package(OpenSSL ${_sluice_req})
            if(OPENSSL_FOUND AND TARGET OpenSSL::SSL)
                set(SLUICE_HAS_OPENSSL 1)
                list(APPEND SLUICE_DEPENDENCY_TARGETS OpenSSL::SSL OpenSSL::Crypto)
                list(APPEND SLUICE_PC_REQUIRES openssl)
            endif()
        elseif(_sluice_dep STREQUAL "ZSTD")
            _sluice_pkg_module(sluice_libzstd libzstd ${_sluice_mode})
            if(sluice_libzstd_FOUND)
                set(SLUICE_HAS_ZSTD 1)
                list(APPEND SLUICE_DEPENDENCY_TARGETS PkgConfig::sluice_libzstd)
                list(APPEND SLUICE_PC_REQUIRES libzstd)
            endif()
        elseif(_sluice_dep STREQUAL "LZ4")
            _sluice_pkg_module(sluice_liblz4 liblz4 ${_sluice_mode})
            if(sluice_liblz4_FOUND)
                set(SLUICE_HAS_LZ4 1)
                list(APPEND SLUICE_DEPENDENCY_TARGETS PkgConfig::sluice_liblz4)
                list(APPEND SLUICE_PC_REQUIRES liblz4)
            endif()
        elseif(_sluice_dep STREQUAL "ZLIB")
            _sluice_pkg_module(sluice_zlib zlib ${_sluice_mode})
            if(sluice_zlib_FOUND)
                set(SLUICE_HAS_ZLIB 1)
                list(APPEND SLUICE_DEPENDENCY_TARGETS PkgConfig::sluice_zlib)
                list(APPEND SLUICE_PC_REQUIRES zlib)
            endif()
        elseif(_sluice_dep STREQUAL "SNAPPY")
            _sluice_pkg_module(sluice_snappy snappy ${_sluice_mode})
            if(sluice_snappy_FOUND)
                set(SLUICE_HAS_SNAPPY 1)
                list(APPEND SLUICE_DEPENDENCY_TARGETS PkgConfig::sluice_snappy)
                list(APPEND SLUICE_PC_REQUIRES snappy)
            endif()
        elseif(_sluice_dep STREQUAL "SIMDJSON")
            find_package(simdjson CONFIG QUIET)
            if(simdjson_FOUND AND TARGET simdjson::simdjson)
                set(SLUICE_HAS_SIMDJSON 1)
                set(SLUICE_SIMDJSON_METHOD cmake)
                list(APPEND SLUICE_DEPENDENCY_TARGETS simdjson::simdjson)
            else()
                _sluice_pkg_module(sluice_simdjson simdjson ${_sluice_mode})
                if(sluice_simdjson_FOUND)
                    set(SLUICE_HAS_SIMDJSON 1)
                    set(SLUICE_SIMDJSON_METHOD pkg-config)
                    list(APPEND SLUICE_DEPENDENCY_TARGETS PkgConfig::sluice_simdjson)
                endif()
            endif()
            if(SLUICE_HAS_SIMDJSON)
                list(APPEND SLUICE_PC_REQUIRES simdjson)
            endif()
        elseif(_sluice_dep STREQUAL "TOMLPP")
            # Debian's libtomlplusplus-dev ships both a CMake config and a .pc; both use its shared
            # library (TOML_HEADER_ONLY=0) rather than the header-only mode.
            find_package(tomlplusplus CONFIG QUIET)
            if(tomlplusplus_FOUND AND TARGET tomlplusplus::tomlplusplus)
                set(SLUICE_HAS_TOMLPP 1)
                set(SLUICE_TOMLPP_METHOD cmake)
                set(SLUICE_TOMLPP_TARGET tomlplusplus::tomlplusplus)
            else()
                _sluice_pkg_module(sluice_tomlplusplus tomlplusplus ${_sluice_mode})
                if(sluice_tomlplusplus_FOUND)
                    set(SLUICE_HAS_TOMLPP 1)
                    set(SLUICE_TOMLPP_METHOD pkg-config)
                    set(SLUICE_TOMLPP_TARGET PkgConfig::sluice_tomlplusplus)
                endif()
            endif()
            continue() # no define or link for sluice::sluice (see above)
        endif()

        if(SLUICE_HAS_${_sluice_dep})
            list(APPEND SLUICE_DEPENDENCY_DEFINES SLUICE_HAS_${_sluice_dep}=1)
            string(APPEND SLUICE_PC_CFLAGS " -DSLUICE_HAS_${_sluice_dep}=1")
        endif()
    endforeach()
    unset(_sluice_dep)
    unset(_sluice_mode)
    unset(_sluice_req)
endmacro()
