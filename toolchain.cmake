# Cross toolchain for the dbgd firmware: Embedded Swift + musl, fully static, linked
# by clang with ld.lld. Select the board CPU with -DDBG_TARGET_ARCH=x86_64|aarch64.
# The facts behind each setting are in ../shared/TOOLCHAIN.md.

set(DBG_TARGET_ARCH "x86_64" CACHE STRING "Target CPU: x86_64 or aarch64")
set_property(CACHE DBG_TARGET_ARCH PROPERTY STRINGS x86_64 aarch64)
if(NOT DBG_TARGET_ARCH MATCHES "^(x86_64|aarch64)$")
  message(FATAL_ERROR "DBG_TARGET_ARCH must be x86_64 or aarch64, not '${DBG_TARGET_ARCH}'")
endif()
# try_compile projects re-read this file; they must see the same architecture.
list(APPEND CMAKE_TRY_COMPILE_PLATFORM_VARIABLES DBG_TARGET_ARCH DBG_SWIFT_ROOT)

set(DBG_SWIFT_ROOT "/opt/swift/usr" CACHE PATH "Swift toolchain (contains bin/swiftc and bin/clang)")

set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR ${DBG_TARGET_ARCH})

# The only embedded stdlibs shipped for 64-bit Linux CPUs. aarch64 uses the bare-metal
# triple, so `os(Linux)` is false there; the sources gate on hasFeature(Embedded).
if(DBG_TARGET_ARCH STREQUAL "aarch64")
  set(DBG_SWIFT_TRIPLE "aarch64-none-none-elf")
else()
  set(DBG_SWIFT_TRIPLE "x86_64-unknown-linux-gnu")
endif()

set(DBG_MUSL_INCLUDE "/usr/include/${DBG_TARGET_ARCH}-linux-musl")
set(DBG_MUSL_LIB "/usr/lib/${DBG_TARGET_ARCH}-linux-musl")
set(DBG_CLANG_RESOURCE_INCLUDE "${DBG_SWIFT_ROOT}/lib/clang/21/include")

set(CMAKE_C_COMPILER "${DBG_SWIFT_ROOT}/bin/clang")
set(CMAKE_C_COMPILER_TARGET "${DBG_TARGET_ARCH}-linux-musl")
set(CMAKE_Swift_COMPILER "${DBG_SWIFT_ROOT}/bin/swiftc")
set(CMAKE_Swift_COMPILER_TARGET "${DBG_SWIFT_TRIPLE}")
set(CMAKE_Swift_COMPILATION_MODE wholemodule)
# Compiler checks compile only; linking needs the crt objects added below.
set(CMAKE_TRY_COMPILE_TARGET_TYPE STATIC_LIBRARY)

# Nothing in the firmware unwinds (no C++, no backtraces; Embedded Swift traps), so C
# objects carry no unwind tables: 7 KB of .eh_frame in the minimal build.
set(DBG_C_NO_UNWIND "-fno-asynchronous-unwind-tables -fno-unwind-tables")
set(CMAKE_C_FLAGS_INIT
  "-nostdinc -isystem ${DBG_MUSL_INCLUDE} -isystem ${DBG_CLANG_RESOURCE_INCLUDE} -ffunction-sections -fdata-sections ${DBG_C_NO_UNWIND}")
set(DBG_SWIFT_CLANG_FLAGS
  "-Xcc -nostdinc -Xcc -isystem -Xcc ${DBG_MUSL_INCLUDE} -Xcc -isystem -Xcc ${DBG_CLANG_RESOURCE_INCLUDE}")
if(DBG_TARGET_ARCH STREQUAL "aarch64")
  # The bare-metal triple defines neither; the Linux headers of musl expect both.
  string(APPEND DBG_SWIFT_CLANG_FLAGS " -Xcc -D__linux__=1 -Xcc -D__unix__=1")
endif()
# Embedded Swift's runtime checks no exclusive access (swift_beginAccess is an empty
# function), so the calls to it are left out: 5 KB. The compiler's static checks stay.
set(CMAKE_Swift_FLAGS_INIT
  "-enable-experimental-feature Embedded -parse-as-library -swift-version 6 -Xfrontend -function-sections -enforce-exclusivity=unchecked ${DBG_SWIFT_CLANG_FLAGS}")
set(CMAKE_Swift_FLAGS_MINSIZEREL_INIT "-Osize")
set(CMAKE_Swift_FLAGS_RELEASE_INIT "-Osize")
set(CMAKE_Swift_FLAGS_DEBUG_INIT "-Onone -g")

# CMake puts these before the objects: musl's start files first.
set(CMAKE_EXE_LINKER_FLAGS_INIT
  "-static -nostdlib -fuse-ld=lld -Wl,--gc-sections ${DBG_MUSL_LIB}/crt1.o ${DBG_MUSL_LIB}/crti.o")
# ...and this after every library, so crtn.o really comes last. On aarch64, musl's
# printf family needs binary128 soft-float builtins from libgcc.
# Deliberately absent: the embedded libswiftUnicodeDataTables.a (about 45 KB).
# Only String comparison and hashing need it; the agent compares bytes instead, and an
# undefined `_swift_stdlib_getNormData` at link time points at code that slipped.
set(DBG_RUNTIME_LIBS "-L${DBG_MUSL_LIB} -lc")
if(DBG_TARGET_ARCH STREQUAL "aarch64")
  string(APPEND DBG_RUNTIME_LIBS " /usr/lib/gcc-cross/aarch64-linux-gnu/12/libgcc.a")
endif()
set(CMAKE_C_STANDARD_LIBRARIES "${DBG_RUNTIME_LIBS} ${DBG_MUSL_LIB}/crtn.o" CACHE STRING "" FORCE)

set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
