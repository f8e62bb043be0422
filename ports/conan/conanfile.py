# Conan 2 recipe for sluice (header-only).
#
# From a sluice checkout:
#   conan create ports/conan -o "sluice/*:with_curl=True"
# The recipe exports the headers of the checkout it lives in (ports/conan -> ../..).
import os
import re

from conan import ConanFile
from conan.errors import ConanInvalidConfiguration
from conan.tools.build import check_min_cppstd
from conan.tools.files import copy, load
from conan.tools.layout import basic_layout

required_conan_version = ">=2.0"


class SluiceConan(ConanFile):
    name = "sluice"
    description = ("Header-only C++20 coroutine library that gets events out of C++ services reliably "
                   "and fast: io_uring event loop with epoll fallback, collector queues.")
    license = "MIT"
    topics = ("coroutines", "io_uring", "epoll", "events", "queues", "header-only")
    package_type = "header-library"
    settings = "os", "arch", "compiler", "build_type"
    options = {
        "with_curl": [True, False],
        "with_openssl": [True, False],
        "with_zstd": [True, False],
        "with_lz4": [True, False],
        "with_simdjson": [True, False],
    }
    default_options = {
        "with_curl": False,
        "with_openssl": False,
        "with_zstd": False,
        "with_lz4": False,
        "with_simdjson": False,
    }
    no_copy_source = True

    _features = (
        ("with_curl", "CURL"),
        ("with_openssl", "OPENSSL"),
        ("with_zstd", "ZSTD"),
        ("with_lz4", "LZ4"),
        ("with_simdjson", "SIMDJSON"),
    )

    @property
    def _repo_root(self):
        return os.path.join(self.recipe_folder, "..", "..")

    def set_version(self):
        if self.version:
            return
        text = load(self, os.path.join(self._repo_root, "include", "sluice", "version.hpp"))
        match = re.search(r'^\s*#\s*define\s+SLUICE_VERSION_STRING\s+"([^"]+)"', text, re.MULTILINE)
        self.version = match.group(1)

    def export_sources(self):
        copy(self, "LICENSE", src=self._repo_root, dst=self.export_sources_folder)
        copy(self, "*.hpp", src=os.path.join(self._repo_root, "include"),
             dst=os.path.join(self.export_sources_folder, "include"))

    def layout(self):
        basic_layout(self, src_folder=".")

    def requirements(self):
        self.requires("liburing/[>=2.3 <3]")
        if self.options.with_curl:
            self.requires("libcurl/[>=7.78.0 <9]")
        if self.options.with_openssl:
            self.requires("openssl/[>=1.1 <4]")
        if self.options.with_zstd:
            self.requires("zstd/[>=1.5 <1.6]")
        if self.options.with_lz4:
            self.requires("lz4/[>=1.9.3 <2]")
        if self.options.with_simdjson:
            self.requires("simdjson/[>=3.0 <4]")

    def package_id(self):
        self.info.clear()

    def validate(self):
        if self.settings.os != "Linux":
            raise ConanInvalidConfiguration(f"{self.ref} needs Linux (io_uring/epoll)")
        if self.settings.get_safe("compiler.cppstd"):
            check_min_cppstd(self, 20)

    def build(self):
        pass

    def package(self):
        copy(self, "LICENSE", src=self.source_folder, dst=os.path.join(self.package_folder, "licenses"))
        copy(self, "*.hpp", src=os.path.join(self.source_folder, "include"),
             dst=os.path.join(self.package_folder, "include"))

    def package_info(self):
        self.cpp_info.set_property("cmake_file_name", "sluice")
        self.cpp_info.set_property("cmake_target_name", "sluice::sluice")
        self.cpp_info.set_property("pkg_config_name", "sluice")
        self.cpp_info.bindirs = []
        self.cpp_info.libdirs = []
        self.cpp_info.system_libs = ["pthread"]
        for option, name in self._features:
            if self.options.get_safe(option):
                self.cpp_info.defines.append(f"SLUICE_HAS_{name}=1")
