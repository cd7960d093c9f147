# ruff: noqa: E501  (data: one paraphrase per line reads better than wrapped strings)
"""A labelled set of items with known trends, to choose and check the clustering threshold.

How it was made: 30 changes a foresight watch meets (energy, work, health, cities, food,
consumption, politics and values), each written as 5 items in the shape the analysis produces,
"name: description", the way different articles and different model runs phrase the same change:
other words, other angle, sometimes another kind (a signal in one article, a behavior or an issue
in another). Concepts come in families of close neighbours (EV charging vs EV battery recycling,
remote work vs the four-day week, AI copilots vs AI in radiology, deepfakes vs AI regulation,
cultivated meat vs precision fermentation) so that a threshold that merges neighbours is
penalised. `bench/calibrate_trends.py` clusters them at every threshold, choosing on the even
concepts and checking on the odd ones (pairwise F1; order shuffled, averaged over seeds).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

PARAPHRASES: tuple[tuple[str, ...], ...] = (
    (
        "Home batteries spread: Households install battery packs to store their rooftop solar power.",
        "Residential energy storage: More homes keep solar electricity in wall-mounted batteries for the evening.",
        "Solar plus storage at home: Families pair panels with a home battery to use their own power at night.",
        "Domestic battery boom: Sales of home storage units rise as owners want to consume the solar energy they produce.",
        "Self-consumption with batteries: Homeowners store surplus photovoltaic output instead of selling it to the grid.",
    ),
    (
        "Fast chargers along motorways: Operators build high-power charging stations for electric cars on highways.",
        "EV charging network expansion: Public charge points for electric vehicles multiply in cities and on main roads.",
        "Charging infrastructure gap: Drivers hesitate to buy electric cars because there are too few public chargers.",
        "Kerbside charging points: Cities install chargers in lampposts so residents without garages can charge their EVs.",
        "Electric vehicle charging hubs: Companies open large charging parks where many electric cars recharge at once.",
    ),
    (
        "EV battery recycling plants: Firms recover lithium, nickel and cobalt from used electric car batteries.",
        "Second life for car batteries: Spent EV batteries are reused for stationary storage, then recycled for metals.",
        "Closed-loop battery materials: Recyclers turn old electric vehicle cells back into raw materials for new batteries.",
        "Recovering battery metals: New processes extract critical minerals from end-of-life lithium-ion car packs.",
        "Battery recycling regulation: Rules require a share of recycled lithium and cobalt in new electric car batteries.",
    ),
    (
        "Heat pumps replace gas boilers: Households swap fossil gas heating for electric heat pumps.",
        "Heat pump subsidies: Governments pay grants so homeowners install heat pumps instead of oil or gas boilers.",
        "Electrified home heating: Air-source heat pumps become the default heating system in new and renovated houses.",
        "Phase-out of gas heating: Bans on new gas boilers push builders towards heat pump installations.",
        "Heat pump installer shortage: Demand for heat pumps outpaces the number of trained installers.",
    ),
    (
        "Data centre waste heat: Server farms feed their excess heat into district heating networks.",
        "Heating homes with servers: The warmth produced by computing centres is piped to nearby apartments.",
        "Recovered heat from computing: Cities require new data centres to deliver waste heat to local heat grids.",
        "Digital infrastructure as heat source: Operators sell the heat from cooling their servers to municipal utilities.",
        "Server heat for swimming pools: A data centre warms a public pool with the heat from its machines.",
    ),
    (
        "Four-day working week: Companies test working four days for the same pay.",
        "Shorter week trials: Employers cut the working week to 32 hours without reducing salaries.",
        "32-hour week pilots: Firms report stable productivity after moving staff to a four-day schedule.",
        "Compressed work schedules: Workers ask for a fourth day off as a standard benefit.",
        "Four-day week legislation: Lawmakers debate a legal right to a shorter working week.",
    ),
    (
        "Remote workers leave cities: Employees who work from home move to smaller towns and the countryside.",
        "Telework reshapes housing: House prices rise in rural areas as remote workers relocate from big cities.",
        "Work-from-anywhere migration: Professionals keep city jobs but live far away thanks to remote work.",
        "Exodus from metropolitan areas: Hybrid work lets families move out of expensive urban centres.",
        "Remote work and regional revival: Villages attract digital workers who no longer need to commute daily.",
    ),
    (
        "AI assistants at the office: Employees use generative AI copilots to draft emails, reports and slides.",
        "Generative AI in knowledge work: Office workers rely on chatbots to summarise documents and write text.",
        "Copilot tools for employees: Companies roll out AI writing assistants across their workforce.",
        "Chatbots change white-collar tasks: Large language models take over routine writing and research at work.",
        "Workplace adoption of LLMs: Staff integrate AI text generators into daily administrative work.",
    ),
    (
        "Gig workers unionise: Delivery riders and ride-hail drivers form unions to bargain with platforms.",
        "Platform workers organise: Couriers of app-based services strike for better pay and protections.",
        "Collective bargaining in the gig economy: Drivers win agreements on minimum earnings with delivery apps.",
        "Riders' unions grow: Food delivery couriers create associations to defend their working conditions.",
        "Employment status fights: Platform workers go to court to be recognised as employees rather than contractors.",
    ),
    (
        "Virtual reality nurse training: Nursing schools train students on emergencies in VR simulations.",
        "Immersive medical simulation: Hospitals use virtual reality headsets to rehearse clinical procedures.",
        "VR for healthcare education: Trainee nurses practise patient care in virtual wards before real shifts.",
        "Simulated clinical training: Virtual reality scenarios let medical staff learn without risk to patients.",
        "Headsets in nursing school: Universities replace part of clinical placements with VR practice.",
    ),
    (
        "AI reads medical scans: Algorithms detect tumours on X-rays and CT scans alongside radiologists.",
        "Machine learning in radiology: Hospitals deploy AI software that flags suspicious findings on images.",
        "Automated image diagnosis: Deep learning tools screen mammograms to support breast cancer detection.",
        "AI second reader for scans: A diagnostic algorithm double-checks radiologists' readings of lung images.",
        "Radiology AI approvals: Regulators clear more artificial intelligence tools for medical imaging.",
    ),
    (
        "Telemedicine in rural areas: Patients in remote villages consult doctors by video call.",
        "Remote consultations fill doctor gaps: Video appointments replace trips to distant clinics in the countryside.",
        "Rural telehealth services: Health agencies connect isolated communities to physicians over the internet.",
        "Virtual GP visits: People far from medical centres see their family doctor online.",
        "Teleconsultation booths: Pharmacies in small towns host connected booths for remote medical check-ups.",
    ),
    (
        "Weight-loss drugs boom: Demand for GLP-1 medicines such as semaglutide soars.",
        "GLP-1 drugs change eating habits: Patients on obesity injections buy less snack food.",
        "Obesity injections shortage: Pharmacies run out of semaglutide as prescriptions multiply.",
        "Anti-obesity medication market: Drugmakers race to produce new GLP-1 weight-loss treatments.",
        "Appetite-suppressing injections: Millions take weekly shots that reduce hunger and body weight.",
    ),
    (
        "Sidewalk delivery robots: Small autonomous robots deliver groceries on city pavements.",
        "Autonomous last-mile delivery: Self-driving robots carry parcels from shops to customers' doors.",
        "Robot couriers on campuses: Students receive food orders from wheeled delivery robots.",
        "Pavement robots regulation: Cities set rules for autonomous delivery machines on footpaths.",
        "Driverless delivery pilots: Retailers test robotic vehicles for short-distance home deliveries.",
    ),
    (
        "Urban micro-forests: Cities plant dense Miyawaki forests on small plots to cool neighbourhoods.",
        "Tiny forests in towns: Schools and councils grow mini-woods of native trees on vacant land.",
        "Miyawaki planting method: Dense native tree planting creates fast-growing urban woodlands.",
        "Pocket forests against heat: Municipalities plant micro-forests to fight heat islands.",
        "Community mini-woodlands: Residents plant tiny forests to bring biodiversity back to cities.",
    ),
    (
        "Car-free city centres: Cities ban private cars from their historic centres.",
        "Low-emission zones expand: Polluting vehicles are barred from entering urban areas.",
        "Pedestrianised downtowns: Streets once full of traffic are given back to walkers and cyclists.",
        "Traffic restrictions in cities: Municipalities close central districts to through traffic.",
        "Clean air zones: Drivers of older diesel cars pay or stay out of city centres.",
    ),
    (
        "Ride pooling for commuters: Apps match employees who share car journeys to work.",
        "Carpooling platforms grow: Commuters split the cost of daily trips through sharing apps.",
        "Shared rides to the office: Companies subsidise carpooling to cut staff car trips.",
        "On-demand ride sharing: Microtransit services pool passengers heading in the same direction.",
        "Carpool lanes and apps: Regions reward drivers who take colleagues along on their commute.",
    ),
    (
        "Vertical farming: Indoor farms grow lettuce in stacked layers under LED lights.",
        "Indoor agriculture towers: Greens are cultivated in climate-controlled warehouses without soil.",
        "Urban vertical farms: Hydroponic farms inside cities supply supermarkets with fresh herbs.",
        "Stacked hydroponics: Growers produce vegetables in multi-storey indoor farms.",
        "Controlled-environment farming: Crops grow year-round in sealed buildings with artificial light.",
    ),
    (
        "Drought insurance for farmers: Insurers pay small farms automatically when rainfall is too low.",
        "Parametric crop insurance: Payouts are triggered by weather data rather than loss assessments.",
        "Index-based farm insurance: Growers receive compensation when satellite data show a drought.",
        "Climate risk cover for agriculture: New policies protect farmers against dry seasons.",
        "Weather-indexed payouts: Smallholders get insurance money as soon as a rain index falls below a threshold.",
    ),
    (
        "Cultivated meat approval: Regulators authorise the sale of meat grown from animal cells.",
        "Lab-grown meat on menus: Restaurants serve chicken produced in bioreactors.",
        "Cell-based meat industry: Start-ups scale up production of meat cultured from cells.",
        "Cultured meat bans: Some governments prohibit the sale of lab-grown meat.",
        "Slaughter-free meat: Meat grown in labs reaches supermarket shelves.",
    ),
    (
        "Precision fermentation dairy: Microbes produce milk proteins without cows.",
        "Animal-free whey: Start-ups brew dairy proteins with engineered yeast.",
        "Fermentation-made cheese: Producers make cheese from proteins made by microorganisms.",
        "Cow-free milk proteins: Food companies use fermentation to make casein and whey.",
        "Biotech dairy ingredients: Ice cream is made with whey produced by fungi in tanks.",
    ),
    (
        "Right to repair: Laws oblige manufacturers to sell spare parts and repair manuals.",
        "Repairable electronics: Phone makers design devices that owners can fix themselves.",
        "Repair cafés and refurbished devices: People fix or buy repaired gadgets instead of new ones.",
        "Spare parts obligation: Brands must supply parts for appliances for ten years.",
        "Repair bonus schemes: Governments subsidise the repair of household appliances.",
    ),
    (
        "Buy now, pay later debt: Young shoppers pile up instalment debt through checkout apps.",
        "BNPL regulation: Authorities bring pay-later services under consumer credit rules.",
        "Instalment payments at checkout: Online stores offer to split purchases into interest-free payments.",
        "Pay-later overspending: Consumers use deferred payment apps to buy more than they can afford.",
        "Deferred payment apps grow: Split-payment providers win market share from credit cards.",
    ),
    (
        "Central bank digital currencies: Central banks prepare digital versions of cash.",
        "Digital euro project: The central bank designs an electronic currency for everyday payments.",
        "CBDC pilots: Several countries test state-issued digital money with retail users.",
        "Programmable public money: Governments explore central-bank-issued digital tokens.",
        "Retail digital currency: Citizens could hold accounts directly with the central bank.",
    ),
    (
        "Secondhand fashion resale: Shoppers buy and sell used clothes on resale apps.",
        "Pre-owned clothing platforms: Online marketplaces for secondhand garments grow fast.",
        "Thrift goes mainstream: Brands open their own resale shops for worn items.",
        "Circular fashion market: Resale of used apparel takes share from fast fashion.",
        "Vintage clothing apps: Young consumers prefer pre-loved clothes to new ones.",
    ),
    (
        "Deepfake election disinformation: Fake AI-generated videos of candidates spread before votes.",
        "Synthetic media in campaigns: Manipulated audio clips of politicians circulate on social networks.",
        "AI-generated political fakes: Voters are targeted with fabricated videos of party leaders.",
        "Deepfakes threaten elections: Election authorities warn about realistic fake content.",
        "Voice cloning robocalls: Cloned voices of politicians call voters with false messages.",
    ),
    (
        "AI regulation compliance: Companies prepare for the obligations of the EU AI Act.",
        "Rules for high-risk AI: Lawmakers require audits and transparency for risky AI systems.",
        "AI governance frameworks: Firms set up internal boards to check their AI products against new laws.",
        "Algorithm accountability laws: Regulators demand documentation and risk assessments for AI models.",
        "AI Act enforcement: Supervisory authorities gain powers to fine non-compliant AI providers.",
    ),
    (
        "Smartphone bans in schools: Schools forbid pupils from using phones during the day.",
        "Digital detox for children: Parents delay giving smartphones to their kids.",
        "Phone-free classrooms: Teachers collect mobile phones at the start of lessons.",
        "Limits on screen time: Families agree to keep children off smartphones until high school.",
        "Schools lock away phones: Pupils put their phones in pouches that stay closed until the end of the day.",
    ),
    (
        "Loneliness epidemic: More people report feeling isolated and without close friends.",
        "Social prescribing: Doctors prescribe community activities to lonely patients.",
        "Ministers for loneliness: Governments appoint officials to tackle social isolation.",
        "Isolation among the elderly: Older people living alone suffer from lack of contact.",
        "Tackling social isolation: Programmes connect lonely residents with volunteers and clubs.",
    ),
    (
        "Climate litigation: Citizens sue governments for failing to cut emissions.",
        "Courts order climate action: Judges rule that states must strengthen their climate targets.",
        "Youth climate lawsuits: Young people take their governments to court over global warming.",
        "Legal action against polluters: NGOs sue oil companies for their contribution to climate change.",
        "Climate cases multiply: The number of lawsuits about climate responsibility grows worldwide.",
    ),
)


def labelled(concepts: Sequence[int] | None = None) -> tuple[list[str], list[int]]:
    """Texts and their concept labels (all concepts, or the given ones)."""
    chosen = range(len(PARAPHRASES)) if concepts is None else concepts
    texts: list[str] = []
    labels: list[int] = []
    for c in chosen:
        texts.extend(PARAPHRASES[c])
        labels.extend([c] * len(PARAPHRASES[c]))
    return texts, labels


def pairwise_scores(predicted: Sequence[int], truth: Sequence[int]) -> tuple[float, float, float]:
    """Pairwise precision, recall and F1 of a clustering against known groups.

    A negative truth label marks a distractor: a group of its own, whose pairs with labelled
    items count (a false merge is a false positive) but whose pairs with other distractors do
    not (distractors may rightly share a story)."""
    pred = np.asarray(predicted)
    true = np.asarray(truth)
    n = len(true)
    tp = fp = fn = 0
    idx = np.arange(n)
    for i in np.nonzero(true >= 0)[0]:
        counted = ((true < 0) | (idx > i)) & (idx != i)
        same_p = (pred == pred[i]) & counted
        same_t = (true == true[i]) & counted
        tp += int(np.sum(same_p & same_t))
        fp += int(np.sum(same_p & ~same_t))
        fn += int(np.sum(~same_p & same_t))
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def evaluate(
    vectors: np.ndarray, labels: Sequence[int], threshold: float, *, seeds: int = 5
) -> tuple[float, float, float]:
    """Mean pairwise (precision, recall, F1) over `seeds` shuffled arrival orders."""
    from horizonscan.trends.cluster import cluster_all

    out = np.zeros(3)
    truth = np.asarray(labels)
    for seed in range(seeds):
        order = np.random.default_rng(seed).permutation(len(truth))
        pred, _, _ = cluster_all(vectors[order], threshold)
        out += pairwise_scores(list(pred), list(truth[order]))
    p, r, f = out / seeds
    return float(p), float(r), float(f)
