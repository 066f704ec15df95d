Kind = "service-intentions"
Name = "value-architect"
Sources = [
  {
    Name = "value-committer"
    Permissions = [
      {
        Action = "deny"
        HTTP {
          PathPrefix = "/api/v1/value-models/secret"
        }
      },
      {
        Action = "allow"
        HTTP {
          PathPrefix = "/api"
          Methods = ["GET"]
          Header = [{ Name = "x-tenant", Exact = "acme" }]
        }
      }
    ]
  },
  { Name = "api-gateway", Action = "allow" }
]
