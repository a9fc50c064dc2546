// common/thread_annotations.h: clang thread-safety annotations (-Wthread-safety).
// With other compilers they expand to nothing. The clang preset turns every
// thread-safety warning into an error (docs/architecture.md §4).
#pragma once

#if defined(__clang__)
#define COHORT_TSA(x) __attribute__((x))
#else
#define COHORT_TSA(x)
#endif

#define CAPABILITY(x) COHORT_TSA(capability(x))
#define SCOPED_CAPABILITY COHORT_TSA(scoped_lockable)
#define GUARDED_BY(x) COHORT_TSA(guarded_by(x))
#define PT_GUARDED_BY(x) COHORT_TSA(pt_guarded_by(x))
#define ACQUIRED_BEFORE(...) COHORT_TSA(acquired_before(__VA_ARGS__))
#define ACQUIRED_AFTER(...) COHORT_TSA(acquired_after(__VA_ARGS__))
#define REQUIRES(...) COHORT_TSA(requires_capability(__VA_ARGS__))
#define REQUIRES_SHARED(...) COHORT_TSA(requires_shared_capability(__VA_ARGS__))
#define ACQUIRE(...) COHORT_TSA(acquire_capability(__VA_ARGS__))
#define ACQUIRE_SHARED(...) COHORT_TSA(acquire_shared_capability(__VA_ARGS__))
#define RELEASE(...) COHORT_TSA(release_capability(__VA_ARGS__))
#define RELEASE_SHARED(...) COHORT_TSA(release_shared_capability(__VA_ARGS__))
#define RELEASE_GENERIC(...) COHORT_TSA(release_generic_capability(__VA_ARGS__))
#define TRY_ACQUIRE(...) COHORT_TSA(try_acquire_capability(__VA_ARGS__))
#define EXCLUDES(...) COHORT_TSA(locks_excluded(__VA_ARGS__))
#define ASSERT_CAPABILITY(x) COHORT_TSA(assert_capability(x))
#define RETURN_CAPABILITY(x) COHORT_TSA(lock_returned(x))
#define NO_THREAD_SAFETY_ANALYSIS COHORT_TSA(no_thread_safety_analysis)
