// bank_account — a mutex guarding shared state, from the "Common Concurrency Problems" section of
// the Go concurrency article this project started from:
//
//   type account struct {
//       balance float64
//       mu      sync.Mutex
//   }
//   func (a *account) deposit(amount float64) {
//       a.mu.Lock()
//       a.balance += amount
//       a.mu.Unlock()
//   }
//   func main() {
//       a := &account{balance: 100}
//       var wg sync.WaitGroup
//       for i := 0; i < 10; i++ {
//           wg.Add(1)
//           go func() {
//               a.deposit(10)
//               wg.Done()
//           }()
//       }
//       wg.Wait()
//       fmt.Printf("Final balance: $%.2f\n", a.balance)
//   }
//
// Ten goroutines deposit $10 each into an account that starts at $100. goro::mutex makes each
// read-modify-write of the balance atomic (std::lock_guard is Go's Lock/defer Unlock), and
// goro::wait_group lets main wait for every deposit, so it always prints $200.00.
#include <goro/runtime.hpp>
#include <goro/sync.hpp>

#include <cstdio>
#include <mutex>

class account {
 public:
  explicit account(double balance) : balance_(balance) {}

  void deposit(double amount) {
    std::lock_guard hold(mu_);
    balance_ += amount;
  }

  void withdraw(double amount) {
    std::lock_guard hold(mu_);
    if (balance_ >= amount) balance_ -= amount;
  }

  double balance() {
    std::lock_guard hold(mu_);
    return balance_;
  }

 private:
  goro::mutex mu_;  // guards balance_
  double balance_;
};

int main() {
  goro::run([] {
    account a(100);
    goro::wait_group wg;
    for (int i = 0; i < 10; ++i) {
      wg.add(1);
      goro::go([&] {
        a.deposit(10);
        wg.done();
      });
    }
    wg.wait();
    std::printf("Final balance: $%.2f\n", a.balance());
  });
}
