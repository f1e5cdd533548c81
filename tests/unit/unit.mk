# SPDX-License-Identifier: BSD-2-Clause
#
# Unit-test tiers: test-unit (Criterion, against libsmt) and test-asan (the
# same tests, libsmt rebuilt with ASan+UBSan, any finding fatal).
#
# Every tests/unit/<dir>/test_*.c (but tests/unit/kmod/, which has its own
# fragment) is one Criterion binary. Linked into each: tests/unit/common/*.c,
# the other *.c files of its own <dir> (helpers, fakes), and libsmt.a. A test
# that needs more libraries sets UNIT_LDLIBS_<name> := ... (name without .c).
# tests/unit/common/run-tests.sh runs them, prints each Criterion summary
# line and the total, and fails when any test fails or a binary crashes.

UNIT_SRCS := $(sort $(filter-out tests/unit/kmod/%,$(wildcard tests/unit/*/test_*.c)))
UNIT_COMMON_SRCS := $(sort $(wildcard tests/unit/common/*.c))
UNIT_NAMES := $(patsubst tests/unit/%.c,%,$(UNIT_SRCS))
UNIT_CFLAGS = $(SMT_CFLAGS) -Itests/unit/common -Iuser/lib -Iinclude
UNIT_LDLIBS := -lcriterion $(LDLIBS_TOOLS)
UNIT_RUN := tests/unit/common/run-tests.sh

# helpers: the non-test .c files next to a test
unit_helpers = $(filter-out $(dir $(1))test_%.c,$(wildcard $(dir $(1))*.c))

# ---- plain build --------------------------------------------------------------
UNIT_BINS := $(patsubst %,$(BUILD)/unit/bin/%,$(UNIT_NAMES))

$(BUILD)/unit/obj/%.o: tests/unit/%.c | $(DEPS_STAMP)
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(UNIT_CFLAGS) -MMD -MP -c $< -o $@

define unit_rule
$(BUILD)/unit/bin/$(1): $(BUILD)/unit/obj/$(1).o \
		$(patsubst tests/unit/%.c,$(BUILD)/unit/obj/%.o,$(UNIT_COMMON_SRCS) $(call unit_helpers,tests/unit/$(1).c)) \
		$(LIB_A)
	$$(call msg,LD,$$@)
	$(Q)mkdir -p $$(@D)
	$(Q)$$(CC) -o $$@ $$^ $$(UNIT_LDLIBS) $$(UNIT_LDLIBS_$(notdir $(1)))
endef
$(foreach n,$(UNIT_NAMES),$(eval $(call unit_rule,$(n))))

.PHONY: unit-build test-unit
unit-build: $(UNIT_BINS)
test-unit: $(UNIT_BINS)
	$(Q)$(UNIT_RUN) test-unit $(UNIT_BINS)

# ---- ASan + UBSan build -------------------------------------------------------
ASAN_FLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer \
	-fno-sanitize-recover=all
ASAN_CFLAGS = $(subst -O2,-O1,$(UNIT_CFLAGS)) $(ASAN_FLAGS)
ASAN_LIB_OBJS := $(patsubst user/lib/%.c,$(BUILD)/asan/obj/lib/%.o,$(LIB_SRCS))
ASAN_LIB_A := $(BUILD)/asan/lib/libsmt.a
ASAN_BINS := $(patsubst %,$(BUILD)/asan/bin/%,$(UNIT_NAMES))

# reasm.c checks its running byte count against the sum it stands for
$(BUILD)/asan/obj/lib/reasm.o: ASAN_CFLAGS += -DSMT_REASM_CHECK
$(BUILD)/asan/obj/lib/%.o: user/lib/%.c | $(DEPS_STAMP)
	$(call msg,CC-ASAN,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(ASAN_CFLAGS) -MMD -MP -c $< -o $@

$(ASAN_LIB_A): $(ASAN_LIB_OBJS)
	$(call msg,AR,$@)
	$(Q)mkdir -p $(@D)
	$(Q)rm -f $@ && ar rcs $@ $^

$(BUILD)/asan/obj/tests/%.o: tests/unit/%.c | $(DEPS_STAMP)
	$(call msg,CC-ASAN,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(ASAN_CFLAGS) -MMD -MP -c $< -o $@

define asan_rule
$(BUILD)/asan/bin/$(1): $(BUILD)/asan/obj/tests/$(1).o \
		$(patsubst tests/unit/%.c,$(BUILD)/asan/obj/tests/%.o,$(UNIT_COMMON_SRCS) $(call unit_helpers,tests/unit/$(1).c)) \
		$(ASAN_LIB_A)
	$$(call msg,LD-ASAN,$$@)
	$(Q)mkdir -p $$(@D)
	$(Q)$$(CC) $(ASAN_FLAGS) -o $$@ $$^ $$(UNIT_LDLIBS) $$(UNIT_LDLIBS_$(notdir $(1)))
endef
$(foreach n,$(UNIT_NAMES),$(eval $(call asan_rule,$(n))))

# Criterion forks one child per test. An ASan or UBSan finding stops the
# child (the test crashes or fails); a leak is found when the child exits,
# after its result is in, so run-tests.sh also fails a binary whose output
# holds any sanitizer report. No suppressions: Criterion itself is clean.
ASAN_ENV := ASAN_OPTIONS=halt_on_error=1:detect_leaks=1:abort_on_error=0:exitcode=23:strict_string_checks=1:detect_stack_use_after_return=1 \
	UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1:exitcode=23

.PHONY: asan-build test-asan
asan-build: $(ASAN_BINS)
test-asan: $(ASAN_BINS)
	$(Q)$(ASAN_ENV) UNIT_JOBS=1 $(UNIT_RUN) test-asan $(ASAN_BINS)

TEST_TIERS += test-unit test-asan
HELP += '  test-unit  unit tests (Criterion) against libsmt'
HELP += '  test-asan  the unit tests with libsmt under ASan+UBSan'

-include $(shell find $(BUILD)/unit $(BUILD)/asan -name '*.d' 2>/dev/null)
