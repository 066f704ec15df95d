# ValueVerse service intentions (SPEC §6), in Consul's agent-config form: several
# `service-intentions` config entries in one file. Each entry is exactly what
# `consul config write` takes for one destination.
#
# Zero trust: the `*` → `*` deny entry is Consul's usual explicit default deny (precedence 5),
# so the file denies every unlisted pair even on an agent whose default policy is allow; the
# stack's default action (valueverse: deny) applies on top of it.
config_entries {
  bootstrap = [
    {
      Kind = "service-intentions"
      Name = "value-architect"
      Sources = [
        {
          Name        = "value-committer"
          Action      = "allow"
          Description = "commitments fetch their value model"
        },
        {
          Name        = "api-gateway"
          Action      = "allow"
          Description = "the gateway routes value-models here"
        },
      ]
    },
    {
      Kind = "service-intentions"
      Name = "value-committer"
      Sources = [
        {
          Name        = "value-architect"
          Action      = "allow"
          Description = "value-architect pushes updates to /internal/v1/sync"
        },
        {
          Name        = "api-gateway"
          Action      = "allow"
          Description = "the gateway routes commitments and internal here"
        },
      ]
    },
    {
      Kind = "service-intentions"
      Name = "postgres"
      Sources = [
        {
          Name        = "value-committer"
          Action      = "allow"
          Description = "each created commitment is recorded here"
        },
      ]
    },
    {
      Kind = "service-intentions"
      Name = "redis"
      Sources = [
        {
          Name        = "value-committer"
          Action      = "allow"
          Description = "commitments are written here and read back"
        },
      ]
    },
    {
      Kind = "service-intentions"
      Name = "*"
      Sources = [
        { Name = "*", Action = "deny", Description = "zero trust: everything else is denied" },
      ]
    },
  ]
}
