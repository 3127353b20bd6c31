// errgroup — fetch several things at once; the first failure cancels the rest
// (golang.org/x/sync/errgroup):
//
//   func fetch(ctx context.Context, name string) error {
//       if name == "bad" {
//           time.Sleep(20 * time.Millisecond)
//           return fmt.Errorf("fetch %s: not found", name)
//       }
//       select {
//       case <-time.After(time.Second):
//           fmt.Println("fetched", name)
//           return nil
//       case <-ctx.Done():
//           fmt.Println("gave up on", name)
//           return ctx.Err()
//       }
//   }
//   func main() {
//       g, ctx := errgroup.WithContext(context.Background())
//       g.SetLimit(3)
//       for _, name := range []string{"alpha", "bad", "gamma"} {
//           name := name
//           g.Go(func() error { return fetch(ctx, name) })
//       }
//       if err := g.Wait(); err != nil {
//           fmt.Println("error:", err)
//       }
//   }
//
// Prints "gave up on alpha" and "gave up on gamma" (in either order), then
// "error: fetch bad: not found". In goro a task reports failure by throwing; wait() rethrows
// the first exception.
#include <goro/goro.hpp>

#include <chrono>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <system_error>

using namespace std::chrono_literals;

void fetch(const goro::context& ctx, const std::string& name) {
  if (name == "bad") {
    goro::sleep_for(20ms);
    throw std::runtime_error("fetch " + name + ": not found");
  }
  if (goro::select(goro::on_recv(goro::after(1s)), goro::on_recv(ctx.done())) == 0) {
    std::printf("fetched %s\n", name.c_str());
    return;
  }
  std::printf("gave up on %s\n", name.c_str());
  throw std::system_error(ctx.err());
}

int main() {
  goro::run([] {
    goro::group g;
    g.set_limit(3);
    for (std::string name : {"alpha", "bad", "gamma"}) {
      g.go([name](goro::context ctx) { fetch(ctx, name); });
    }
    try {
      g.wait();
    } catch (const std::exception& e) {
      std::printf("error: %s\n", e.what());
    }
  });
}
