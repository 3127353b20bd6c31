// Tests of goro/detail/pages.hpp: each population method commits exactly the pages asked for
// (mincore says which are resident), in batches longer than one system call takes, the two
// madvise methods keep contents, and the process keeps the batched method on a kernel that has it.
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>
#include <goro/detail/pages.hpp>

#include <catch2/catch.hpp>
#include <cstring>
#include <vector>

namespace {

using goro::detail::page_range;
using goro::detail::page_size;
using goro::detail::populate_method;
using goro::detail::populate_pages;

// mapping: fresh anonymous memory of `pages` pages, nothing committed.
class mapping {
 public:
  explicit mapping(std::size_t pages) : bytes_(pages * page_size()) {
    void* base = mmap(nullptr, bytes_, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    REQUIRE(base != MAP_FAILED);
    base_ = static_cast<char*>(base);
  }
  mapping(const mapping&) = delete;
  mapping& operator=(const mapping&) = delete;
  ~mapping() { munmap(base_, bytes_); }

  char* page(std::size_t index) const { return base_ + index * page_size(); }

  // resident: for each page, whether the kernel has committed it.
  std::vector<bool> resident() const {
    std::vector<unsigned char> flags(bytes_ / page_size());
    REQUIRE(mincore(base_, bytes_, flags.data()) == 0);
    std::vector<bool> result;
    for (unsigned char f : flags) result.push_back((f & 1) != 0);
    return result;
  }

 private:
  char* base_ = nullptr;
  std::size_t bytes_ = 0;
};

// Every third page alone, and a three-page range at the end: 100 ranges, more than one
// process_madvise call takes.
std::vector<page_range> sparse_ranges(const mapping& memory, std::size_t singles) {
  std::vector<page_range> ranges;
  for (std::size_t i = 0; i < singles; ++i) ranges.push_back({memory.page(3 * i), page_size()});
  ranges.push_back({memory.page(3 * singles), 3 * page_size()});
  return ranges;
}

std::vector<bool> expected_residency(std::size_t pages, std::size_t singles) {
  std::vector<bool> expected(pages, false);
  for (std::size_t i = 0; i < singles; ++i) expected[3 * i] = true;
  for (std::size_t i = 0; i < 3; ++i) expected[3 * singles + i] = true;
  return expected;
}

bool kernel_has_batched_population() {
  mapping probe(1);
  iovec vector{probe.page(0), page_size()};
  return syscall(SYS_process_madvise, goro::detail::pidfd_self_process, &vector, 1,
                 goro::detail::madvise_populate_write, 0U) == static_cast<long>(page_size());
}

}  // namespace

TEST_CASE("each population method commits exactly the pages of its ranges", "[pages]") {
  const auto method =
      GENERATE(populate_method::batched, populate_method::single, populate_method::touch);
  CAPTURE(static_cast<int>(method));
  constexpr std::size_t singles = 99;
  constexpr std::size_t pages = 3 * singles + 5;
  const mapping memory(pages);
  REQUIRE(memory.resident() == std::vector<bool>(pages, false));

  const std::vector<page_range> ranges = sparse_ranges(memory, singles);
  populate_pages(ranges, method);

  CHECK(memory.resident() == expected_residency(pages, singles));
}

TEST_CASE("populating with madvise keeps what the pages hold", "[pages]") {
  const auto method = GENERATE(populate_method::batched, populate_method::single);
  CAPTURE(static_cast<int>(method));
  const mapping memory(4);
  std::memset(memory.page(1), 0x5a, page_size());
  populate_pages(std::vector<page_range>{{memory.page(0), 4 * page_size()}}, method);
  CHECK(memory.resident() == std::vector<bool>(4, true));
  for (std::size_t i = 0; i < page_size(); ++i) REQUIRE(memory.page(1)[i] == 0x5a);
}

TEST_CASE("the process keeps the batched method where the kernel has it", "[pages]") {
  const mapping memory(8);
  populate_pages(page_range{memory.page(2), 2 * page_size()});
  CHECK(memory.resident() ==
        std::vector<bool>{false, false, true, true, false, false, false, false});
  if (kernel_has_batched_population()) {
    CHECK(goro::detail::populate_method_in_use() == populate_method::batched);
  } else {
    CHECK(goro::detail::populate_method_in_use() != populate_method::batched);
  }
}
