# vcpkg port of sluice (header-only).
#
# As an overlay port it builds the checkout it lives in (ports/vcpkg/sluice -> ../../..):
#   vcpkg install sluice[curl,openssl,zstd,lz4] --overlay-ports=<sluice>/ports/vcpkg
# For a registry, replace the SOURCE_PATH line with
#   vcpkg_from_github(OUT_SOURCE_PATH SOURCE_PATH REPO <owner>/sluice REF "v${VERSION}" SHA512 <sha512> HEAD_REF main)

get_filename_component(SOURCE_PATH "${CMAKE_CURRENT_LIST_DIR}/../../.." ABSOLUTE)

set(VCPKG_BUILD_TYPE release) # header-only: one configuration is enough

vcpkg_check_features(OUT_FEATURE_OPTIONS FEATURE_OPTIONS
    FEATURES
        curl      SLUICE_WITH_CURL
        openssl   SLUICE_WITH_OPENSSL
        zstd      SLUICE_WITH_ZSTD
        lz4       SLUICE_WITH_LZ4
        simdjson  SLUICE_WITH_SIMDJSON
)

# liburing, zstd and lz4 are found through pkg-config.
vcpkg_find_acquire_program(PKGCONFIG)

vcpkg_cmake_configure(
    SOURCE_PATH "${SOURCE_PATH}"
    OPTIONS
        ${FEATURE_OPTIONS}
        "-DPKG_CONFIG_EXECUTABLE=${PKGCONFIG}"
        -DSLUICE_BUILD_TESTS=OFF
        -DSLUICE_BUILD_EXAMPLES=OFF
        -DSLUICE_BUILD_BENCH=OFF
        -DSLUICE_INSTALL=ON
        -DSLUICE_INSTALL_CMAKEDIR=share/cmake/sluice
        # sluice.pc has "Libs: -pthread", so it belongs in lib/pkgconfig, not share/pkgconfig.
        -DSLUICE_INSTALL_PKGCONFIGDIR=lib/pkgconfig
)

vcpkg_cmake_install()
vcpkg_cmake_config_fixup(CONFIG_PATH share/cmake/sluice)
vcpkg_fixup_pkgconfig()

file(REMOVE_RECURSE "${CURRENT_PACKAGES_DIR}/share/doc")

file(INSTALL "${CMAKE_CURRENT_LIST_DIR}/usage" DESTINATION "${CURRENT_PACKAGES_DIR}/share/${PORT}")
vcpkg_install_copyright(FILE_LIST "${SOURCE_PATH}/LICENSE")
