# check_contract_coverage.cmake — every test case that the tables of docs/contract-coverage/
# cite (as `chan_test: "name"`) exists in that test program, so that renaming or removing a case
# cannot leave a clause pointing at nothing.
# Usage: cmake -DSOURCE_DIR=<goro's source tree> -P check_contract_coverage.cmake
file(GLOB tables ${SOURCE_DIR}/docs/contract-coverage/*.md)
list(FILTER tables EXCLUDE REGEX "/README\\.md$")  # the index shows the form, citing nothing
set(checked 0)
set(missing "")
foreach(table IN LISTS tables)
  file(READ ${table} text)
  string(REGEX REPLACE "\n *" " " text "${text}")  # a citation may wrap in a paragraph
  get_filename_component(table_name ${table} NAME)
  # A citation is a test program's stem and a quoted case name. CTest's own tests, cited as
  # `CTest: "..."`, are named in tests/CMakeLists.txt, partly by variables, and are not checked.
  string(REGEX MATCHALL "[a-z_]+_test[a-z_]*: \"[^\"]+\"" citations "${text}")
  foreach(citation IN LISTS citations)
    string(REGEX REPLACE "^([a-z_]+): \".*\"$" "\\1" stem "${citation}")
    string(REGEX REPLACE "^[a-z_]+: \"(.*)\"$" "\\1" name "${citation}")
    set(source ${SOURCE_DIR}/tests/${stem}.cpp)
    if(NOT EXISTS ${source})
      list(APPEND missing "${table_name}: no test program ${stem}")
      continue()
    endif()
    if(NOT DEFINED source_${stem})
      # A long case name is written as adjacent string literals over two lines: join them.
      file(READ ${source} source_${stem})
      string(REGEX REPLACE "\"\n *\"" "" source_${stem} "${source_${stem}}")
    endif()
    string(FIND "${source_${stem}}" "\"${name}\"" at)
    if(at EQUAL -1)
      list(APPEND missing "${table_name}: ${stem} has no case \"${name}\"")
    endif()
    math(EXPR checked "${checked} + 1")
  endforeach()
endforeach()

if(missing)
  list(JOIN missing "\n  " report)
  message(FATAL_ERROR "docs/contract-coverage cites test cases that do not exist:\n  ${report}")
endif()
# The tables cite several hundred cases: far fewer means the pattern above stopped matching them.
if(checked LESS 500)
  message(FATAL_ERROR "only ${checked} citations found in docs/contract-coverage: expected 500 or more")
endif()
message(STATUS "${checked} citations of docs/contract-coverage checked, each names a test case")
