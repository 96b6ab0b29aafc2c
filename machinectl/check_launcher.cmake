# Fails the build when machinectl's launcher (launcher.cpp) came to depend on the C++ runtime, libsystemd
# or sdbus-c++: the C driver that links it is handed libstdc++ anyway (CMake adds the C++ objects'
# implicit libraries), so only this check keeps the launcher as cheap to start as a C program.
#   cmake -DNM=nm -DREADELF=readelf -DFILE=bin/machinectl -P check_launcher.cmake
execute_process(COMMAND ${NM} -u ${FILE} OUTPUT_VARIABLE undefined RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "${NM} -u ${FILE} failed")
endif()
string(REGEX MATCHALL
  "[^\n]*(GLIBCXX|CXXABI|_ZSt|_ZNSt|_ZNKSt|_ZdlPv|_Znwm|__gxx_personality|__cxa_(allocate|throw|begin_catch|end_catch|rethrow|guard|pure_virtual))[^\n]*"
  runtime "${undefined}")
if(runtime)
  message(FATAL_ERROR "machinectl's launcher uses the C++ runtime (launcher.cpp, bus_wire.cpp must not):\n${runtime}")
endif()
execute_process(COMMAND ${READELF} -d ${FILE} OUTPUT_VARIABLE dynamic RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "${READELF} -d ${FILE} failed")
endif()
# The sanitizers' runtimes (tests/sanitize.sh) bring libstdc++ themselves, and the driver then links it
# whether used or not: there the symbol check above is what counts.
set(forbidden "libsystemd|libsdbus")
if(NOT dynamic MATCHES "libasan|libubsan|libtsan")
  set(forbidden "${forbidden}|libstdc\\+\\+")
endif()
string(REGEX MATCHALL "NEEDED[^\n]*(${forbidden})[^\n]*" needed "${dynamic}")
if(needed)
  message(FATAL_ERROR "machinectl's launcher needs a library it must not load:\n${needed}")
endif()
