"""The LinkedIn sandbox: an emulator of LinkedIn's web ("Voyager") API, for development and tests.

Run it with `python -m linkedin.sandbox --host 127.0.0.1 --port 8100 --state-dir .data/sandbox`, or build
the ASGI app with `linkedin.sandbox.app.create_app(state_dir, seed)`.

Modules, one job each:
    world, model, vocab, ids   the generated world (people, companies, accounts), immutable, from a seed
    records, store             what accounts did (SQLite under state_dir, mirrored in memory)
    clock                      the injectable clock every window reads
    gate                       session → CSRF → restriction → request rate → faults; JSESSIONID rotation
    tolerances                 what LinkedIn tolerates before it throttles or restricts
    social, search, render     an account's view of the world; search; Voyager-style JSON
    writes, logins             visits, invitations, messages, accept/withdraw; sessions and checkpoints
    routes/                    HTTP: Voyager routes, the login flow, the control API (/_sandbox)

Voyager-like routes (all need cookies `li_at` + `JSESSIONID` and header `csrf-token`):
    GET  /voyager/api/me
    GET  /voyager/api/identity/profiles/{slug|urn}/profileView
    GET  /voyager/api/organization/companies?q=universalName&universalName=…
    POST /voyager/api/voyagerIdentityDashProfileViews                      (a visit)
    GET  /voyager/api/search/blended?keywords=…&filters=List(resultType->PEOPLE|COMPANIES,…)&start=&count=
    GET  /sales-api/salesApiLeadSearch?q=searchQuery&query=(keywords:…)&start=&count=
    GET  /voyager/api/relationships/dash/connections?q=search&start=&count=
    POST /voyager/api/voyagerRelationshipsDashMemberRelationships?action=verifyQuotaAndCreateV2
    GET  /voyager/api/relationships/invitationViews?q=receivedInvitation&start=&count=
    GET  /voyager/api/relationships/sentInvitationViewsV2?q=invitationType&invitationType=CONNECTION
    POST /voyager/api/relationships/invitations/{id}?action=accept|withdraw
    GET  /voyager/api/voyagerMessagingDashMessengerConversations?q=search&count=&nextCursor=&read=false
    GET  /voyager/api/voyagerMessagingDashMessengerMessages?q=conversation&conversationId=…&nextCursor=
    GET  /voyager/api/voyagerMessagingDashMessengerMessages?q=originToken&originToken=…
    POST /voyager/api/voyagerMessagingDashMessengerMessages?action=createMessage
Login: GET /authwall, GET /uas/login, POST /uas/authenticate, POST /checkpoint/challenge/{id}.
"""
