# cmake -DGZIP=/usr/bin/gzip -DSRC=page.1 -DDST=page.1.gz -P gzip_file.cmake
# Compresses SRC into DST the way Debian ships man pages: best compression, and
# no file name or time stamp inside (-n) so two builds give the same bytes.
foreach(var GZIP SRC DST)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "gzip_file.cmake: ${var} is not set")
  endif()
endforeach()
execute_process(COMMAND "${GZIP}" -9 -n -c
  INPUT_FILE "${SRC}" OUTPUT_FILE "${DST}.tmp" RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  file(REMOVE "${DST}.tmp")
  message(FATAL_ERROR "gzip_file.cmake: gzip ${SRC} failed: ${rc}")
endif()
file(RENAME "${DST}.tmp" "${DST}")
