# Prints the size of a built binary: cmake -DFILE=path -DLABEL=name -P print-size.cmake
file(SIZE "${FILE}" bytes)
math(EXPR kib "(${bytes} + 1023) / 1024")
message(STATUS "dbgd (${LABEL}, stripped): ${bytes} bytes (${kib} KiB)")
