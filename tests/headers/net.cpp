// Compiled alone by CTest (tests/CMakeLists.txt): <goro/net.hpp> by itself declares what API
// section 7 names.
#include <goro/net.hpp>

#include <span>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>

static_assert(std::is_same_v<decltype(goro::net::listen(std::string_view())), goro::net::listener>);
static_assert(std::is_same_v<decltype(goro::net::dial(std::string_view())), goro::net::conn>);
static_assert(std::is_same_v<decltype(goro::net::dial(goro::background(), std::string_view())),
                             goro::net::conn>);
static_assert(std::is_move_constructible_v<goro::net::conn>);
static_assert(!std::is_copy_constructible_v<goro::net::listener>);
static_assert(std::is_base_of_v<std::system_error, goro::net::timeout_error>);
static_assert(std::is_base_of_v<std::system_error, goro::net::closed_error>);
// Beyond the contract: Go's other networks (UDP and Unix-domain sockets).
static_assert(std::is_same_v<decltype(goro::net::listen(std::string_view(), std::string_view())),
                             goro::net::listener>);
static_assert(std::is_same_v<decltype(goro::net::dial(std::string_view(), std::string_view())),
                             goro::net::conn>);
static_assert(std::is_same_v<decltype(goro::net::dial(goro::background(), std::string_view(),
                                                      std::string_view())),
                             goro::net::conn>);
static_assert(
    std::is_same_v<decltype(goro::net::listen_packet(std::string_view(), std::string_view())),
                   goro::net::packet_conn>);
static_assert(
    std::is_same_v<decltype(std::declval<goro::net::packet_conn&>().read_from(std::span<char>())),
                   goro::net::datagram>);
static_assert(std::is_move_constructible_v<goro::net::packet_conn>);
static_assert(!std::is_copy_constructible_v<goro::net::packet_conn>);
