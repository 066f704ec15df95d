@experiment
Feature: ValueVerse steady state
  What must stay true for every consumer group while things break: `gauntlet explore` drives
  this load window by window and checks these objectives under every schedule of actions.
  Each consumer stays within its 100 requests a minute (the explorer moves the clock to the next
  minute when a window would overrun it).

  Scenario: users read value models and commitments, and write commitments
    Given the steady state: "frontend-app" reads "/api/v1/value-models" at 40/s with p99 below 250 ms and success ratio at least 99%
    And the steady state: "frontend-app" reads "/api/v1/commitments" at 20/s with p99 below 250 ms and success ratio at least 99%
    And the steady state: "frontend-app" writes "/api/v1/commitments" at 10/s with p99 below 250 ms and success ratio at least 99%, with JSON:
      """
      {"value_model_id":"b2e4c6a8-1d3f-4e5a-8b7c-9d0e1f2a3b02","owner":"web","target_date":"2026-06-30","amount":1000}
      """

  Scenario: admins write value models
    Given the steady state: "admin-user" writes "/api/v1/value-models" at 10/s with p99 below 250 ms and success ratio at least 99%, with JSON:
      """
      {"name":"Churn","description":"steady-state write","drivers":[{"name":"churn","unit":"percent","baseline":12,"target":8}]}
      """
    And the steady state: "admin-user" writes "/api/v1/commitments" at 10/s with p99 below 250 ms and success ratio at least 99%, with JSON:
      """
      {"value_model_id":"b2e4c6a8-1d3f-4e5a-8b7c-9d0e1f2a3b02","owner":"finance-team","target_date":"2026-03-31","amount":125000.5}
      """

  Scenario: internal services sync
    Given the steady state: "internal-services" reads "/internal/v1/sync" at 10/s with p99 below 250 ms and success ratio at least 99%
