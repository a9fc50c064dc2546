# Compiler flags shared by every Cohort target: warnings, sanitizers, the clang
# thread-safety analysis. Targets opt in with cohort_target_defaults(<target>).
add_library(cohort_flags INTERFACE)
target_compile_options(cohort_flags INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wcast-align
  -Wno-unused-parameter -Wno-missing-field-initializers)
if(COHORT_WERROR)
  target_compile_options(cohort_flags INTERFACE -Werror)
endif()
if(CMAKE_CXX_COMPILER_ID MATCHES "Clang")
  if(COHORT_THREAD_SAFETY)
    target_compile_options(cohort_flags INTERFACE
      -Wthread-safety -Wthread-safety-beta -Werror=thread-safety
      -Werror=thread-safety-beta)
  endif()
endif()
# Debug builds check the lock-rank order at run time (common/mutex.h).
target_compile_definitions(cohort_flags INTERFACE
  $<$<CONFIG:Debug>:COHORT_LOCK_RANK_CHECK=1>)

if(COHORT_SANITIZE)
  add_compile_options(-fsanitize=${COHORT_SANITIZE} -fno-omit-frame-pointer
                      -fno-sanitize-recover=all)
  add_link_options(-fsanitize=${COHORT_SANITIZE})
endif()

function(cohort_target_defaults target)
  target_link_libraries(${target} PRIVATE cohort_flags)
  target_include_directories(${target} PUBLIC ${PROJECT_SOURCE_DIR})
endfunction()
