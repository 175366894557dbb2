"""`/leadership` commands, split by what each part does; `bot.services.admin_commands` is
the entry point (`run`, `execute`) and re-exports what the platforms and the CLI use.

- command_parsing: the grammar with today's date and this question set
- replies: how a reply is written (`Style`), who asked (`Invocation`), the answer (`Outcome`)
- channels: which channel a command means, and joining it before posting there
- permissions: who the platform says someone is (cached briefly), and may they change things
- bot_admins: the people added with `admins add` (audited)
- store: the reads and writes the commands share (a channel's schedule, its audit entry)
- summary: what a channel has set up, gathered; summary_text: that written out (pure)
- formats / audit_text: times, schedules and audit entries as text (pure)
- reading_commands, ask_command, schedule_commands, digest_commands, feed_commands,
  admins_commands: carrying out each kind of command
"""
