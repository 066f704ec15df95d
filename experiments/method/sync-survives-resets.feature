@experiment @LAT-1
Feature: Experiment: internal sync survives connection resets towards value-committer
  Chaos Toolkit's shape in Gherkin: the steady-state hypothesis, the method, the rollbacks.
  `gauntlet run --stack scenarios/valueverse experiments/method/sync-survives-resets.feature`
  runs it as written; `gauntlet explore` reads its steady state like any other hypothesis
  (the same steady state in two files is explored once) and leaves the method to its own
  schedules. valueverse's `retries: 3` absorbs the resets: a reset attempt is tried again.

  Scenario: the gateway's connections to value-committer are reset one time in ten
    # Steady-state hypothesis: declared, and checked on one window before the method.
    Given the steady state: "internal-services" reads "/internal/v1/sync" at 10/s with p99 below 250 ms and success ratio at least 99%
    # Method
    When the toxic "resets" on the link from "gateway" to "value-committer" is:
      """
      {"type": "reset_peer", "stream": "upstream", "toxicity": 0.1, "attributes": {"timeout": 0}}
      """
    Then the steady state holds
    # Rollbacks
    When the toxic "resets" is removed from the link from "gateway" to "value-committer"
    Then the steady state holds
