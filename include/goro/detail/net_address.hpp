// goro/detail/net_address.hpp — Go's networks ("tcp", "tcp4", "tcp6", "udp", "udp4", "udp6",
// "unix", "unixgram", "unixpacket") and socket addresses for goro::net: splitting "host:port"
// (net.SplitHostPort), resolving (net.ResolveTCPAddr, net.ResolveUnixAddr) and formatting
// (net.TCPAddr.String, net.UnixAddr.String).
//
// An address of "unix", "unixgram" or "unixpacket" is a path, or on Linux "@name" for a name in the
// abstract namespace (no file), as in Go; at most 107 bytes. The other networks take "host:port":
//
// Hosts are IPv4 literals, IPv6 literals in brackets (with an optional %zone), names (resolved
// with getaddrinfo, on a blocking() helper when the caller is a goroutine) or empty (every
// interface for a listener, the local system for a dial). Ports are decimal numbers from 0 to
// 65535, with an optional sign as Go allows ("+80"; an empty port is 0), or service names
// ("http", looked up as Go does: the system's services database, then Go's own short table).
// Malformed input, and an unknown service, throw std::system_error with code
// std::errc::invalid_argument, naming the input (API 7: errors throw std::system_error); a name
// that does not resolve throws std::system_error in resolver_category().
#pragma once

#include <arpa/inet.h>
#include <net/if.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "../runtime.hpp"

namespace goro::detail {

// socket_address: an IPv4, IPv6 or Unix-domain socket address (or none: length 0).
struct socket_address {
  // The largest member comes first: `sa{}` zero-initialises only the first member of a union.
  union storage {
    sockaddr_un un;
    sockaddr_in6 v6;
    sockaddr_in v4;
    sockaddr any;
  } sa{};
  socklen_t length = 0;

  int family() const noexcept { return length == 0 ? AF_UNSPEC : sa.any.sa_family; }
  sockaddr* data() noexcept { return &sa.any; }
  const sockaddr* data() const noexcept { return &sa.any; }
  static constexpr socklen_t capacity() noexcept { return sizeof(storage); }

  void set_port(std::uint16_t port) noexcept {
    if (family() == AF_INET) sa.v4.sin_port = htons(port);
    if (family() == AF_INET6) sa.v6.sin6_port = htons(port);
  }

  // wildcard_v6: [::], which Linux makes dual-stack (IPv4 too) once IPV6_V6ONLY is off.
  bool wildcard_v6() const noexcept {
    return family() == AF_INET6 && IN6_IS_ADDR_UNSPECIFIED(&sa.v6.sin6_addr);
  }

  // to_string: "1.2.3.4:80" or "[::1]:80" (Go's format: IPv4-mapped IPv6 addresses print as
  // IPv4); a Unix-domain socket's path, or "@name" in the abstract namespace; "" for no address
  // or an unnamed Unix-domain socket.
  std::string to_string() const {
    if (family() == AF_UNIX) return unix_path();
    char text[INET6_ADDRSTRLEN + IF_NAMESIZE + 2] = {};
    std::uint16_t port = 0;
    std::string out;
    if (family() == AF_INET) {
      inet_ntop(AF_INET, &sa.v4.sin_addr, text, sizeof text);
      port = ntohs(sa.v4.sin_port);
      out = text;
    } else if (family() == AF_INET6) {
      port = ntohs(sa.v6.sin6_port);
      if (IN6_IS_ADDR_V4MAPPED(&sa.v6.sin6_addr)) {
        inet_ntop(AF_INET, &sa.v6.sin6_addr.s6_addr[12], text, sizeof text);
        out = text;
      } else {
        inet_ntop(AF_INET6, &sa.v6.sin6_addr, text, sizeof text);
        out = std::string("[") + text;
        if (sa.v6.sin6_scope_id != 0) {
          char zone[IF_NAMESIZE] = {};
          out += '%';
          out += if_indextoname(sa.v6.sin6_scope_id, zone) != nullptr
                     ? std::string(zone)
                     : std::to_string(sa.v6.sin6_scope_id);
        }
        out += ']';
      }
    } else {
      return {};
    }
    return out + ":" + std::to_string(port);
  }

 private:
  // unix_path: the name of an AF_UNIX address as Go writes it (a leading NUL, the abstract
  // namespace, as '@'); the kernel may or may not count a path's terminating NUL in length.
  std::string unix_path() const {
    const std::size_t offset = offsetof(sockaddr_un, sun_path);
    if (length <= offset) return {};
    std::string path(sa.un.sun_path, length - offset);
    if (path.front() == '\0') {
      path.front() = '@';
      return path;
    }
    return path.substr(0, path.find('\0'));
  }
};

// printable: `text` as an error message may show it: a control byte — a NUL would end the
// message's what() — or a backslash as a C escape ("\x00", "\n", "\\"); other bytes, UTF-8
// included, as they are.
inline std::string printable(std::string_view text, char quote = 0) {
  constexpr char hex[] = "0123456789abcdef";
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (c == '\\' || (quote != 0 && c == quote)) {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (byte < 0x20 || byte == 0x7f) {
      out += "\\x";
      out += hex[byte >> 4];
      out += hex[byte & 0xf];
    } else {
      out += c;
    }
  }
  return out;
}

// quoted: `text` in double quotes, printable, its quotes escaped (Go's %q for these bytes).
inline std::string quoted(std::string_view text) {
  return '"' + printable(text, '"') + '"';
}

// network: one of Go's network names and the sockets it makes.
struct network {
  std::string_view name;  // as Go writes it: "tcp", "udp4", "unix"...
  int family;             // AF_UNSPEC (IPv4 or IPv6, whichever the address is), AF_INET, AF_INET6
                          // or AF_UNIX
  int type;               // SOCK_STREAM, SOCK_DGRAM or SOCK_SEQPACKET

  bool is_unix() const noexcept { return family == AF_UNIX; }
  // is_datagram: connectionless (listen_packet's networks); the others listen and accept.
  bool is_datagram() const noexcept { return type == SOCK_DGRAM; }
  // keeps_messages: each write sends one message, which one read takes (datagrams and
  // "unixpacket"); a stream's writes and reads are bytes.
  bool keeps_messages() const noexcept { return type != SOCK_STREAM; }
  // protocol: the services database's protocol for a port name ("tcp" or "udp").
  const char* protocol() const noexcept { return is_datagram() ? "udp" : "tcp"; }
};

// networks: every network goro::net knows; the first is "tcp", API 7's only one.
inline constexpr network networks[] = {
    {"tcp", AF_UNSPEC, SOCK_STREAM},        {"tcp4", AF_INET, SOCK_STREAM},
    {"tcp6", AF_INET6, SOCK_STREAM},        {"unix", AF_UNIX, SOCK_STREAM},
    {"udp", AF_UNSPEC, SOCK_DGRAM},         {"udp4", AF_INET, SOCK_DGRAM},
    {"udp6", AF_INET6, SOCK_DGRAM},         {"unixgram", AF_UNIX, SOCK_DGRAM},
    {"unixpacket", AF_UNIX, SOCK_SEQPACKET}};

inline constexpr const network& tcp_network = networks[0];

// find_network: the network called `name`. `types` says which networks the caller takes:
// SOCK_STREAM those that connect (listen: streams and "unixpacket"), SOCK_DGRAM the
// connectionless ones (listen_packet), 0 all (dial). Throws std::system_error
// with code std::errc::invalid_argument for a name that is not a network, or one of a type the
// caller does not take (Go's UnknownNetworkError).
inline const network& find_network(std::string_view name, int types, std::string_view op) {
  for (const network& n : networks) {
    if (n.name != name) continue;
    if (types != 0 && n.is_datagram() != (types == SOCK_DGRAM)) break;
    return n;
  }
  throw std::system_error(
      std::make_error_code(std::errc::invalid_argument),
      std::string(op) + " " + printable(name) + ": unknown network " + quoted(name));
}

// host_port: an address split into its parts.
struct host_port {
  std::string host;
  std::uint16_t port = 0;
};

[[noreturn]] inline void throw_bad_address(std::string_view op, std::string_view address,
                                           std::string_view why) {
  throw std::system_error(
      std::make_error_code(std::errc::invalid_argument),
      std::string(op) + ": invalid address " + quoted(address) + ": " + std::string(why));
}

// address_parts: the host and port text of an address, as written.
struct address_parts {
  std::string_view host;
  std::string_view port;
};

// split_host_port: splits "host:port", "[ipv6]:port" or ":port" (Go's net.SplitHostPort). `op`
// names the caller in the std::system_error it throws.
inline address_parts split_host_port(std::string_view address, std::string_view op) {
  std::string_view host;
  std::string_view port;
  if (address.empty()) throw_bad_address(op, address, "missing port in address");
  // The resolver and the services database read C strings: a host or port with a NUL would be
  // looked up as its part before the NUL ("127.0.0.1\0junk" as 127.0.0.1).
  if (address.find('\0') != std::string_view::npos) {
    throw_bad_address(op, address, "NUL in address");
  }
  if (address.front() == '[') {
    const std::size_t end = address.find(']');
    if (end == std::string_view::npos) throw_bad_address(op, address, "missing ']' in address");
    if (end + 1 == address.size()) throw_bad_address(op, address, "missing port in address");
    if (address[end + 1] != ':') {
      throw_bad_address(
          op, address,
          address[end + 1] == ']' ? "unexpected ']' in address" : "missing port in address");
    }
    host = address.substr(1, end - 1);
    port = address.substr(end + 2);
    if (host.find('[') != std::string_view::npos) {
      throw_bad_address(op, address, "unexpected '[' in address");
    }
  } else {
    const std::size_t colon = address.rfind(':');
    if (colon == std::string_view::npos) throw_bad_address(op, address, "missing port in address");
    host = address.substr(0, colon);
    port = address.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) {
      throw_bad_address(op, address, "too many colons in address");
    }
    if (host.find('[') != std::string_view::npos) {
      throw_bad_address(op, address, "unexpected '[' in address");
    }
    if (host.find(']') != std::string_view::npos) {
      throw_bad_address(op, address, "unexpected ']' in address");
    }
  }
  if (port.find_first_of("[]") != std::string_view::npos) {
    throw_bad_address(op, address, "unexpected bracket in port");
  }
  return {host, port};
}

// decimal_port: the number a port written in decimal stands for, as Go's parsePort reads it: an
// optional sign, then digits ("", "+" and "-" are 0); values far out of range saturate, as any
// value past 65535 is refused anyway. nullopt if `port` is not decimal: it names a service.
inline std::optional<std::int64_t> decimal_port(std::string_view port) {
  const bool negative = !port.empty() && port.front() == '-';
  if (!port.empty() && (port.front() == '+' || port.front() == '-')) port.remove_prefix(1);
  constexpr std::int64_t saturated = std::int64_t{1} << 30;
  std::int64_t value = 0;
  for (char c : port) {
    if (c < '0' || c > '9') return std::nullopt;
    value = std::min(value * 10 + (c - '0'), saturated);
  }
  return negative ? -value : value;
}

// known_service_port: the port of a service in the table Go carries for systems without a
// services database (net/lookup.go); `name` in lower case, `protocol` "tcp" or "udp". 0 if it is
// not there.
inline int known_service_port(std::string_view name, std::string_view protocol) noexcept {
  if (protocol == "udp") return name == "domain" ? 53 : 0;
  struct service {
    std::string_view name;
    int port;
  };
  static constexpr service table[] = {
      {"ftp", 21},    {"ftps", 990},  {"gopher", 70}, {"http", 80},  {"https", 443},
      {"imap2", 143}, {"imap3", 220}, {"imaps", 993}, {"pop3", 110}, {"pop3s", 995},
      {"smtp", 25},   {"ssh", 22},    {"telnet", 23}};
  for (const service& s : table) {
    if (s.name == name) return s.port;
  }
  return 0;
}

// system_service_port: the port of `name` for `protocol` ("tcp" or "udp") in the system's
// services database (getservbyname_r), 0 if it has none. Blocks its thread. The buffer for the
// entry starts at `buffer_size` bytes and grows while the entry does not fit.
inline int system_service_port(const std::string& name, const char* protocol = "tcp",
                               std::size_t buffer_size = 1024) {
  std::vector<char> buffer(buffer_size);
  for (;;) {
    servent entry{};
    servent* found = nullptr;
    const int rc =
        getservbyname_r(name.c_str(), protocol, &entry, buffer.data(), buffer.size(), &found);
    if (rc == ERANGE && buffer.size() < (std::size_t{1} << 20)) {  // an entry with many aliases
      buffer.resize(buffer.size() * 4);
      continue;
    }
    if (rc != 0 || found == nullptr) return 0;
    return static_cast<int>(ntohs(static_cast<std::uint16_t>(found->s_port)));
  }
}

// service_port: the port a service name stands for over `protocol` ("tcp" or "udp"; Go's
// LookupPort): the system's services database (getservbyname_r: /etc/services), asked for the
// name as written and then in lower case, then Go's own table. 0 if the name is unknown (no
// service has port 0). Blocks its thread on the database, so a goroutine runs it through
// goro::blocking.
inline int service_port(std::string_view name, const char* protocol = "tcp") {
  std::string lower(name);
  std::transform(lower.begin(), lower.end(), lower.begin(), [](char c) {
    return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
  });
  auto query = [&] {
    for (const std::string& key : {std::string(name), lower}) {
      if (const int port = system_service_port(key, protocol)) return port;
    }
    return known_service_port(lower, protocol);
  };
  return goro::blocking(query);
}

// port_number: the port of an address's port text: decimal (Go's parsePort) or a service name
// over `protocol` (Go's LookupPort); throws std::system_error(invalid_argument) for a number out
// of 0..65535 or an unknown name.
inline std::uint16_t port_number(std::string_view port, std::string_view address,
                                 std::string_view op, const char* protocol = "tcp") {
  const std::optional<std::int64_t> number = decimal_port(port);
  if (!number) {
    const int found = service_port(port, protocol);
    if (found == 0) throw_bad_address(op, address, "unknown port \"" + std::string(port) + "\"");
    return static_cast<std::uint16_t>(found);
  }
  if (*number < 0 || *number > 65535) {
    throw_bad_address(op, address, "invalid port \"" + std::string(port) + "\"");
  }
  return static_cast<std::uint16_t>(*number);
}

// parse_address: an address split, with its port as a number (a service name's over
// `protocol`).
inline host_port parse_address(std::string_view address, std::string_view op,
                               const char* protocol = "tcp") {
  const address_parts parts = split_host_port(address, op);
  return {std::string(parts.host), port_number(parts.port, address, op, protocol)};
}

// parse_ip: an IPv4 or IPv6 literal (the latter with an optional %zone) as a socket address;
// false if `host` is not one.
inline bool parse_ip(const std::string& host, std::uint16_t port, socket_address& out) {
  out = {};
  if (inet_pton(AF_INET, host.c_str(), &out.sa.v4.sin_addr) == 1) {
    out.sa.v4.sin_family = AF_INET;
    out.length = sizeof(sockaddr_in);
  } else {
    const std::size_t percent = host.find('%');
    const std::string ip = host.substr(0, percent);
    if (inet_pton(AF_INET6, ip.c_str(), &out.sa.v6.sin6_addr) != 1) return false;
    if (percent != std::string::npos) {
      const std::string zone = host.substr(percent + 1);
      unsigned index = if_nametoindex(zone.c_str());
      if (index == 0) {  // a number, all of it, that fits (else no zone: not an IP literal)
        const char* const end = zone.data() + zone.size();
        const auto [stop, failure] = std::from_chars(zone.data(), end, index);
        if (failure != std::errc() || stop != end) index = 0;
      }
      if (index == 0) return false;
      out.sa.v6.sin6_scope_id = index;
    }
    out.sa.v6.sin6_family = AF_INET6;
    out.length = sizeof(sockaddr_in6);
  }
  out.set_port(port);
  return true;
}

// resolver_category: getaddrinfo's EAI_* codes.
class resolver_error_category : public std::error_category {
 public:
  const char* name() const noexcept override { return "goro.net.resolver"; }
  std::string message(int code) const override { return gai_strerror(code); }
};

GORO_PROCESS_WIDE inline const std::error_category& resolver_category() noexcept {
  static const resolver_error_category category;
  return category;
}

// lookup_host: the addresses of a host name (getaddrinfo). Blocks its thread, so a goroutine runs
// it through goro::blocking. IPv4 first if `prefer_v4` (Go's choice for a listener).
inline std::vector<socket_address> lookup_host(const host_port& hp, bool prefer_v4,
                                               const std::string& what) {
  auto query = [&] {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* list = nullptr;
    const int rc = getaddrinfo(hp.host.c_str(), nullptr, &hints, &list);
    if (rc == EAI_SYSTEM) {
      // errno first: the arguments of a call are evaluated in no fixed order (g++ builds the
      // message first), and the message's allocations may change errno.
      const int error = errno;
      throw std::system_error(error, std::generic_category(), what + ": lookup " + hp.host);
    }
    if (rc != 0) throw std::system_error(rc, resolver_category(), what + ": lookup " + hp.host);
    // Freed on every way out, also when a push_back below throws (std::bad_alloc).
    const std::unique_ptr<addrinfo, decltype(&freeaddrinfo)> owned(list, &freeaddrinfo);
    std::vector<socket_address> found;
    for (addrinfo* ai = list; ai != nullptr; ai = ai->ai_next) {
      if ((ai->ai_family != AF_INET && ai->ai_family != AF_INET6) ||
          ai->ai_addrlen > socket_address::capacity()) {
        continue;
      }
      socket_address a;
      std::memcpy(a.data(), ai->ai_addr, ai->ai_addrlen);
      a.length = ai->ai_addrlen;
      a.set_port(hp.port);
      if (std::none_of(found.begin(), found.end(), [&](const socket_address& b) {
            return b.length == a.length && std::memcmp(b.data(), a.data(), a.length) == 0;
          })) {
        found.push_back(a);
      }
    }
    if (found.empty()) {
      throw std::system_error(EAI_NONAME, resolver_category(), what + ": lookup " + hp.host);
    }
    if (prefer_v4) {
      std::stable_partition(found.begin(), found.end(),
                            [](const socket_address& a) { return a.family() == AF_INET; });
    }
    return found;
  };
  return goro::blocking(query);
}

// resolve: the candidate addresses of `hp`: one for an IP literal, those of a name, and for an
// empty host [::] (a listener: every interface, IPv4 and IPv6) or the loopback addresses (a dial:
// the local system).
inline std::vector<socket_address> resolve(const host_port& hp, bool passive,
                                           const std::string& what) {
  socket_address a;
  if (hp.host.empty()) {
    static constexpr const char* wildcards[] = {"::", "0.0.0.0"};
    static constexpr const char* loopbacks[] = {"127.0.0.1", "::1"};
    std::vector<socket_address> out;
    for (const char* ip : passive ? wildcards : loopbacks) {
      parse_ip(ip, hp.port, a);
      out.push_back(a);
    }
    return out;
  }
  if (parse_ip(hp.host, hp.port, a)) return {a};
  return lookup_host(hp, passive, what);
}

// unix_address: the AF_UNIX address of `path` (Go's ResolveUnixAddr): a file's path, or "@name"
// for a name in Linux's abstract namespace. Throws std::system_error(invalid_argument) for an
// empty path, one longer than 107 bytes or one that holds a NUL.
inline socket_address unix_address(std::string_view path, std::string_view op) {
  socket_address a;
  if (path.empty()) throw_bad_address(op, path, "missing address");
  if (path.size() >= sizeof a.sa.un.sun_path) {
    throw_bad_address(op, path,
                      "path longer than " + std::to_string(sizeof a.sa.un.sun_path - 1) + " bytes");
  }
  if (path.find('\0') != std::string_view::npos) throw_bad_address(op, path, "NUL in path");
  a.sa.un.sun_family = AF_UNIX;
  std::memcpy(a.sa.un.sun_path, path.data(), path.size());
  const bool abstract = path.front() == '@';
  if (abstract) a.sa.un.sun_path[0] = '\0';
  // An abstract name is exactly its bytes; a path is read up to its terminating NUL.
  a.length =
      static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size() + (abstract ? 0 : 1));
  return a;
}

// resolve_ip: resolve's candidates for `hp` (parsed from `address`) in network `net`: all of
// them for "tcp" and "udp", those of the one IP version for the networks that end in 4 or 6.
// Throws std::system_error: invalid_argument if none is of that version ("no suitable address
// found", as Go says), a resolver error if a name does not resolve.
inline std::vector<socket_address> resolve_ip(const network& net, const host_port& hp, bool passive,
                                              std::string_view address, std::string_view op,
                                              const std::string& what) {
  std::vector<socket_address> found = resolve(hp, passive, what);
  if (net.family != AF_UNSPEC) {
    std::erase_if(found, [&](const socket_address& a) { return a.family() != net.family; });
    if (found.empty()) throw_bad_address(op, address, "no suitable address found");
  }
  return found;
}

// resolve_network: the candidate addresses of `address` in network `net`, in the order to try:
// resolve_ip's, or the path of "unix" and "unixgram". Throws std::system_error: invalid_argument
// for a malformed address, else as resolve_ip.
inline std::vector<socket_address> resolve_network(const network& net, std::string_view address,
                                                   bool passive, std::string_view op,
                                                   const std::string& what) {
  if (net.is_unix()) return {unix_address(address, op)};
  return resolve_ip(net, parse_address(address, op, net.protocol()), passive, address, op, what);
}

}  // namespace goro::detail
