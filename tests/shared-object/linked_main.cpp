// A program linked with a shared library that uses goro, both built with hidden visibility: one
// goro runtime for the two.
#include "check.hpp"

int main() {
  return library_shares_the_run(*library_functions_table());
}
