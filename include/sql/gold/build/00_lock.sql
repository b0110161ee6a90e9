-- Step 1 of a Gold build. Every file under run/ and every Gold template runs in ONE transaction, one
-- statement per file, with the parameters of domotic.gold.BuildPlan.parameters() bound (so a literal percent
-- sign is doubled). Readers see the old Gold or the new one, never a mix; a failure anywhere rolls everything back.
-- The advisory lock serialises builds (on top of max_active_runs=1): a second build waits here until the
-- first one has committed, then rebuilds on top of it. work_mem is raised for this transaction only.
SELECT pg_advisory_xact_lock(gold.stable_key('gold_build')),
       set_config('work_mem', %(work_mem)s, true),
       set_config('jit', 'off', true)
