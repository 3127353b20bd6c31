// singleflight — ten goroutines ask for the same user's profile at once; one database query
// answers them all (golang.org/x/sync/singleflight):
//
//   var g singleflight.Group
//   var queries int32
//
//   func profile(user string) (string, bool) {
//       v, _, shared := g.Do(user, func() (interface{}, error) {
//           atomic.AddInt32(&queries, 1)
//           time.Sleep(500 * time.Millisecond) // the slow database
//           return "profile of " + user, nil
//       })
//       return v.(string), shared
//   }
//   func main() {
//       var wg sync.WaitGroup
//       var shared int32
//       for i := 0; i < 10; i++ {
//           wg.Add(1)
//           go func() {
//               defer wg.Done()
//               if p, s := profile("gopher"); p == "profile of gopher" && s {
//                   atomic.AddInt32(&shared, 1)
//               }
//           }()
//       }
//       wg.Wait()
//       fmt.Println("10 lookups,", shared, "answered by a shared call")
//       fmt.Println("database queries:", queries)
//       p, s := profile("gopher") // the call is over: the next one queries again
//       fmt.Println(p, "shared:", s, "database queries:", atomic.LoadInt32(&queries))
//   }
//
// Prints "10 lookups, 10 answered by a shared call" and "database queries: 1": the nine
// goroutines that ask while the first one's query runs wait for it and share its answer. (On a
// machine that cannot start ten goroutines within the query's 500 ms, a late one would start a
// query of its own.) A finished call is not cached: the last lookup queries again, alone.
#include <goro/runtime.hpp>
#include <goro/singleflight.hpp>
#include <goro/sync.hpp>
#include <goro/time.hpp>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <string>

using namespace std::chrono_literals;

goro::singleflight<std::string> flights;
std::atomic<int> queries{0};

goro::singleflight<std::string>::result profile(const std::string& user) {
  return flights.call(user, [&] {
    queries.fetch_add(1);
    goro::sleep_for(500ms);  // the slow database
    return "profile of " + user;
  });
}

int main() {
  goro::run([] {
    goro::wait_group wg;
    std::atomic<int> shared{0};
    for (int i = 0; i < 10; ++i) {
      wg.add(1);
      goro::go([&] {
        auto [p, s] = profile("gopher");
        if (p == "profile of gopher" && s) shared.fetch_add(1);
        wg.done();
      });
    }
    wg.wait();
    std::printf("10 lookups, %d answered by a shared call\n", shared.load());
    std::printf("database queries: %d\n", queries.load());
    auto [p, s] = profile("gopher");  // the call is over: the next one queries again
    std::printf("%s shared: %s database queries: %d\n", p.c_str(), s ? "true" : "false",
                queries.load());
  });
}
