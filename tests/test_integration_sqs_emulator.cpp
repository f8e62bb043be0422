// Integration suite "integration-sqs": run by ctest's sluice_tests_sqs_integration_* against the SQS
// emulator that sluice_fauxqs_start (scripts/emulator.sh) started, whose endpoint is in the
// file named by SLUICE_SQS_ENDPOINT_FILE. The unit test entries exclude integration* suites.
//
// This case only checks the fixture itself with a plain socket (no sluice code): the endpoint file
// is there, names a loopback address, and the emulator answers on it. A missing endpoint is a
// failure, not a skip.

#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>

// Everything of this file lives in its own namespace, so that the unity build (tests/CMakeLists.txt)
// can compile it in one translation unit with other test files.
namespace test_integration_sqs_emulator {

namespace {

std::string read_sqs_endpoint() {
    const char* file = std::getenv("SLUICE_SQS_ENDPOINT_FILE");
    REQUIRE_MESSAGE(file != nullptr,
                    "SLUICE_SQS_ENDPOINT_FILE is not set: run the integration suites through ctest "
                    "(sluice_tests_sqs_integration_*), or start scripts/emulator.sh start fauxqs and point it at "
                    "<state-dir>/endpoint");
    std::ifstream in(file);
    REQUIRE_MESSAGE(in.good(), "no SQS emulator endpoint file at "
                                   << std::string(file) << " (did sluice_fauxqs_start fail?)");
    std::string endpoint;
    std::getline(in, endpoint);
    return endpoint;
}

// GET <path> over a fresh connection to 127.0.0.1:<port>; the whole response (Connection: close).
std::string http_get(int port, const std::string& path) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd >= 0);
    struct closer {
        int fd;
        ~closer() { ::close(fd); }
    } guard{fd};
    timeval timeout{.tv_sec = 10, .tv_usec = 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<std::uint16_t>(port));
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE_MESSAGE(::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0,
                    "connect to 127.0.0.1:" << port << ": " << std::strerror(errno));
    const std::string request = "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port) +
                                "\r\nConnection: close\r\n\r\n";
    REQUIRE(::send(fd, request.data(), request.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(request.size()));
    std::string response;
    char buffer[4096];
    for (;;) {
        const ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
        REQUIRE_MESSAGE(n >= 0, "recv: " << std::strerror(errno));
        if (n == 0)
            break;
        response.append(buffer, static_cast<std::size_t>(n));
    }
    return response;
}

} // namespace

TEST_SUITE("integration-sqs") {
    TEST_CASE("the SQS emulator answers on the loopback endpoint of SLUICE_SQS_ENDPOINT_FILE") {
        const std::string endpoint = read_sqs_endpoint();
        const std::string prefix = "http://127.0.0.1:";
        REQUIRE_MESSAGE(endpoint.rfind(prefix, 0) == 0, "endpoint '" << endpoint << "' is not on 127.0.0.1");
        const int port = std::atoi(endpoint.c_str() + prefix.size());
        REQUIRE(port > 0);
        REQUIRE(port < 65536);

        const std::string response = http_get(port, "/health");
        CHECK(response.rfind("HTTP/1.1 200", 0) == 0);
        CHECK(response.find(R"("status":"ok")") != std::string::npos);
    }
}

} // namespace test_integration_sqs_emulator
