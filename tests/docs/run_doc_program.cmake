# Runs a program taken from the docs (cmake -DPROGRAM=... -DHAS_EXPECTED=ON|OFF -DEXPECTED=...
# -P run_doc_program.cmake): it must exit with status 0 and, when the doc states its output, print
# exactly that one line.
execute_process(COMMAND ${PROGRAM} OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE status)
message("${out}${err}")
if(NOT status EQUAL 0)
  message(FATAL_ERROR "the program exited with ${status}")
endif()
if(HAS_EXPECTED AND NOT out STREQUAL "${EXPECTED}\n")
  message(FATAL_ERROR "the doc says it prints \"${EXPECTED}\"; it printed \"${out}\"")
endif()
