# examples/check_output.cmake — runs one example and checks what it prints. CTest calls it as
#
#   cmake -DPROGRAM=<executable> -DEXPECTED=<expected.txt> [-DARGS="<arguments>"] [-DTIMEOUT=<s>]
#         -P check_output.cmake
#
# The check fails if the program runs longer than TIMEOUT seconds (default 30), exits with a
# status other than 0, writes anything to stderr, or prints (on stdout) anything the expected
# file does not describe, line for line. Each line of the expected file is one of:
#
#   text          the next output line is exactly `text`
#   ~ regex       the next output line matches ^(regex)$ — CMake's regex syntax; for timings
#   # comment     ignored; it also ends an unordered run (below)
#
# A pattern line may carry the flags * and ? in front of its space: `* text`, `*~ regex`,
# `? text`, `?~ regex`, `*? text`, ...
#
#   *   consecutive `*` lines form an unordered run: they match as many consecutive output lines,
#       in any order, each pattern used once (goroutines printing concurrently). Patterns of one
#       run should not overlap: matching is greedy, so overlapping ones can fail a correct output
#       but never pass a wrong one.
#   ?   the line may be missing (in a run: that pattern may go unused) — output that depends on
#       whether a goroutine got to run before main returned.
#
# Every output line must be matched: extra lines fail the check too.
cmake_minimum_required(VERSION 3.25)

if(NOT DEFINED PROGRAM OR NOT DEFINED EXPECTED)
  message(FATAL_ERROR "usage: cmake -DPROGRAM=<exe> -DEXPECTED=<file> [-DARGS=...] -P ${CMAKE_CURRENT_LIST_FILE}")
endif()
if(NOT EXISTS "${EXPECTED}")
  message(FATAL_ERROR "no expected output: write ${EXPECTED} (format: top of check_output.cmake)")
endif()
if(NOT DEFINED TIMEOUT)
  set(TIMEOUT 30)
endif()
separate_arguments(args UNIX_COMMAND "${ARGS}")

# to_lines: splits `text` into a list of lines in `out`. ; [ and ] would confuse CMake's lists,
# so they travel as control characters until from_line puts them back.
string(ASCII 1 semicolon)
string(ASCII 2 open_bracket)
string(ASCII 3 close_bracket)
function(to_lines text out)
  string(REPLACE ";" "${semicolon}" text "${text}")
  string(REPLACE "[" "${open_bracket}" text "${text}")
  string(REPLACE "]" "${close_bracket}" text "${text}")
  string(REGEX REPLACE "\n$" "" text "${text}")
  string(REPLACE "\n" ";" text "${text}")
  set(${out} "${text}" PARENT_SCOPE)
endfunction()
function(from_line line out)
  string(REPLACE "${semicolon}" ";" line "${line}")
  string(REPLACE "${open_bracket}" "[" line "${line}")
  string(REPLACE "${close_bracket}" "]" line "${line}")
  set(${out} "${line}" PARENT_SCOPE)
endfunction()

execute_process(COMMAND "${PROGRAM}" ${args} TIMEOUT ${TIMEOUT}
  RESULT_VARIABLE status OUTPUT_VARIABLE output ERROR_VARIABLE errors)
get_filename_component(name "${PROGRAM}" NAME)
string(STRIP "${name} ${ARGS}" command)
# fail_with: prints what the program printed, then stops the check with `reason`.
function(fail_with reason)
  message(NOTICE "---- ${command} printed:\n${output}---- on stderr:\n${errors}----")
  message(FATAL_ERROR "${reason}")
endfunction()
if(NOT status STREQUAL "0")
  fail_with("${name} failed: ${status}")
endif()
if(NOT errors STREQUAL "")
  fail_with("${name} wrote to stderr")
endif()

file(READ "${EXPECTED}" expected_text)
to_lines("${expected_text}" expected)
to_lines("${output}" actual)
list(LENGTH actual actual_count)

# split_entry: splits an expected line into its flags (`*`, `?`, `~`; empty for a plain line) and
# the text or regex after them.
function(split_entry entry flags body)
  if(entry MATCHES "^([*?]*~?) (.*)$" AND NOT CMAKE_MATCH_1 STREQUAL "")
    set(${flags} "${CMAKE_MATCH_1}" PARENT_SCOPE)
    from_line("${CMAKE_MATCH_2}" text)
  else()
    set(${flags} "" PARENT_SCOPE)
    from_line("${entry}" text)
  endif()
  set(${body} "${text}" PARENT_SCOPE)
endfunction()

# matches: sets `out` to TRUE if output line `line` matches the expected line `entry`.
function(matches entry line out)
  split_entry("${entry}" flags pattern)
  from_line("${line}" line)
  set(result FALSE)
  if(flags MATCHES "~")  # (CMake's if() does not short-circuit: no AND here)
    if("${line}" MATCHES "^(${pattern})$")
      set(result TRUE)
    endif()
  elseif("${line}" STREQUAL "${pattern}")
    set(result TRUE)
  endif()
  set(${out} ${result} PARENT_SCOPE)
endfunction()

# fail: stops the check, saying where the output went wrong.
function(fail at what)
  math(EXPR at "${at} + 1")
  fail_with("${name}: output line ${at}: ${what}")
endfunction()

# check_run: matches the unordered run `run` (a list of entries) against the output from line
# `next` on, greedily; fails if a required entry is left unused, else advances `next`.
function(check_run run)
  set(unused "${run}")
  list(LENGTH unused left)
  while(next LESS actual_count AND left GREATER 0)
    list(GET actual ${next} line)
    set(found -1)
    set(index 0)
    foreach(entry IN LISTS unused)
      matches("${entry}" "${line}" ok)
      if(ok)
        set(found ${index})
        break()
      endif()
      math(EXPR index "${index} + 1")
    endforeach()
    if(found EQUAL -1)
      break()
    endif()
    list(REMOVE_AT unused ${found})
    list(LENGTH unused left)
    math(EXPR next "${next} + 1")
  endwhile()
  foreach(entry IN LISTS unused)
    split_entry("${entry}" flags pattern)
    if(NOT flags MATCHES "[?]")
      fail(${next} "nothing matches \"${pattern}\" (of an unordered run)")
    endif()
  endforeach()
  set(next ${next} PARENT_SCOPE)
endfunction()

set(next 0)
set(run "")
list(APPEND expected "#")  # a last comment ends the last run
foreach(entry IN LISTS expected)
  split_entry("${entry}" flags pattern)
  if(flags MATCHES "[*]")
    list(APPEND run "${entry}")
    continue()
  endif()
  if(NOT run STREQUAL "")
    check_run("${run}")
    set(run "")
  endif()
  if(entry MATCHES "^#")
    continue()
  endif()
  set(ok FALSE)
  if(next LESS actual_count)
    list(GET actual ${next} line)
    matches("${entry}" "${line}" ok)
  endif()
  if(ok)
    math(EXPR next "${next} + 1")
  elseif(NOT flags MATCHES "[?]")
    fail(${next} "does not match \"${pattern}\"")
  endif()
endforeach()
if(next LESS actual_count)
  fail(${next} "not expected (extra output)")
endif()
